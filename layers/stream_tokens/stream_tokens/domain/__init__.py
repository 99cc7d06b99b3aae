"""The Stream token domain: requests and their validation, claims and signing, signed URLs, the
error types. Knows nothing of Lambda, API Gateway, Secrets Manager or HTTP clients."""
