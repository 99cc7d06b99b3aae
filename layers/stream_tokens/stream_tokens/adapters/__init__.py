"""Everything that does I/O: Secrets Manager (minting's credentials, the rotation's versions),
Cloudflare's Stream API, the deployment's share of its rate limit counted in DynamoDB
(shared_budget over budget_table), and the token issuers."""
