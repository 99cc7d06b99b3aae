"""The deployment's DynamoDB table's item shape, as template.yaml declares it (the Cloudflare call
budget and the quotas share the table)."""

KEY_ATTRIBUTE = "budget"  # template.yaml's KeySchema
TTL_ATTRIBUTE = "expires_at"  # template.yaml's TimeToLiveSpecification
