"""Local stand-ins for what the function meets in AWS: API Gateway's events, Secrets Manager
(moto), Cloudflare (a loopback double), and `make run`'s local HTTP API. Development only: none of
this is deployed."""
