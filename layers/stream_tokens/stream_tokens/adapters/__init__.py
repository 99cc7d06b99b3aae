"""Everything that does I/O: Secrets Manager (minting's credentials, the rotation's versions),
Cloudflare's Stream API and this deployment's share of its rate limit (per container, and counted
for the whole deployment in DynamoDB: budget_table), and the token issuers."""
