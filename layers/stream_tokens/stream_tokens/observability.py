"""Logging and metrics: the one place that owns them.

Powertools Logger writes structured JSON (the API Gateway request id is the correlation id) and
Metrics writes CloudWatch embedded metrics. Nothing here is ever given a secret, a private key or
a token: log calls pass ids, kinds, codes and timings only.
"""

from __future__ import annotations

import threading
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .domain.errors import ConfigurationError, StreamTokenError, as_stream_error

SERVICE = "stream-signed-urls"
NAMESPACE = "StreamSignedUrls"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_metrics_lock = threading.Lock()
# An invocation that only failed publishes its Errors metric on its own (below): not a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def tokens_issued(issuer: str, count: int) -> None:
    """Tokens signed by one issuer (a batch may use two), each count with its Issuer dimension."""
    _publish("TokensIssued", MetricUnit.Count, count, "Issuer", issuer)


def upstream_latency(milliseconds: float) -> None:
    """Time spent on one call to Cloudflare, retries included, whether it succeeded or not.
    (Batches call this from several threads; Powertools' metric set is not thread-safe.)"""
    with _metrics_lock:
        metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=milliseconds)


def signing_keys(event: str, count: int = 1) -> None:
    """What the rotation function did to Stream signing keys: `created`, `deleted`, `already_gone`
    (a retired key Cloudflare no longer had), `deletion_failed` (a retired key kept for the next
    rotation), `discarded` (a new key deleted again because the pending version was not written)."""
    _publish("SigningKeys", MetricUnit.Count, count, "Event", event)


def _publish(name: str, unit: MetricUnit, value: float, dimension: str, dimension_value: str) -> None:
    """One metric with its own dimension, written at once (a single EMF line)."""
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE}
    ) as metric:
        metric.add_dimension(name=dimension, value=dimension_value)


def log_and_count_failure(exc: Exception) -> StreamTokenError:
    """Log a failure once, count it by kind, and return what the caller is told of it
    (`errors.as_stream_error`: anything unexpected is an InternalError, its stack trace logged).

    Call it inside the `except` that caught `exc`. Errors are published one by one (each with its
    own ErrorKind dimension), so that a batch with several kinds of failure counts each correctly.
    """
    failure = as_stream_error(exc)
    if failure is not exc:
        logger.exception("unexpected failure")
    elif isinstance(failure, ConfigurationError):
        logger.error("configuration error", extra={"detail": failure.detail})
    else:
        logger.info(
            "request refused",
            extra={"kind": failure.kind, "status": failure.status, "errors": [d.to_json() for d in failure.details]},
        )
    _publish("Errors", MetricUnit.Count, 1, "ErrorKind", failure.kind)
    return failure
