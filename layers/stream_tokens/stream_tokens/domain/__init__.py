"""The Stream token domain: requests and their validation, claims and signing, signed URLs, the
error types, and the values the seams share (a call's limits and rate share, the call window's
arithmetic, the secret's version stages). Knows nothing of Lambda, API Gateway, the AWS SDK or
HTTP clients."""
