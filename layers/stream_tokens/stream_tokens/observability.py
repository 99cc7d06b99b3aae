"""Logging and metrics: the one place that owns them.

Powertools Logger writes structured JSON (the API Gateway request id is the correlation id) and
Metrics writes CloudWatch embedded metrics. Nothing here is ever given a secret, a private key or
a token: log calls pass ids, kinds, codes and timings only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "stream-signed-urls"
NAMESPACE = "StreamSignedUrls"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def token_issued(issuer: str) -> None:
    metrics.add_dimension(name="Issuer", value=issuer)
    metrics.add_metric(name="TokensIssued", unit=MetricUnit.Count, value=1)


def upstream_latency(milliseconds: float) -> None:
    """Time spent on one call to Cloudflare, retries included, whether it succeeded or not."""
    metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=milliseconds)


def error(kind: str) -> None:
    metrics.add_dimension(name="ErrorKind", value=kind)
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
