"""Cloudflare Stream signed tokens from AWS Lambda: the layer shared by the entry points.

Four sub-packages, each importing only the ones below it (import-linter checks it in `make lint`):

- `runtime`: the Lambda-facing side: the composition root (`bootstrap`), configuration read once,
  HTTP bodies and answers, the event shapes shared by the entry points, invocation error handling.
- `services`: what the functions do, written against ports: minting (`TokenService`) and the
  signing-key rotation (`SigningKeyRotation`).
- `adapters`: the only code that does I/O: Secrets Manager, Cloudflare's HTTP API and its rate
  share, the two token issuers (Cloudflare's API, local signing) side by side.
- `domain`: the Stream token model, request validation, signing, signed URLs and the error types;
  no I/O, no AWS.

`observability` (Powertools Logger and Metrics) sits beside them: the services and the runtime log
and count; it imports nothing but the domain's errors.
"""
