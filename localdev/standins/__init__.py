"""Local stand-ins for what the function meets in AWS, imported by `make run`, the tests and the
benchmarks: API Gateway's events and HTTP API (`apigw`, `local_api`), moto's AWS services
(`stack`), Cloudflare (a loopback double that checks every request against Cloudflare's schema),
the values `template.yaml` declares (`template`), Stream signing keys generated on the spot, and the
example ids every one of them uses (`examples`). Development only: none of this is deployed."""

import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "stream_tokens"
if str(LAYER) not in sys.path:  # the stand-ins use the layer's names (the secret's fields), as the tests do
    sys.path.append(str(LAYER))
