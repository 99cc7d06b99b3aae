"""Local stand-ins for what the function meets in AWS, imported by `make run`, the tests and the
benchmarks: API Gateway's events and HTTP API (`apigw`, `local_api`), moto's AWS services
(`stack`), Cloudflare (a loopback double that checks every request against Cloudflare's schema),
the values `template.yaml` declares (`template`), Stream signing keys generated on the spot, and the
example ids every one of them uses (`examples`). Development only: none of this is deployed."""
