"""Logging and metrics: the one place that owns them.

Powertools Logger writes structured JSON (the API Gateway request id is the correlation id) and
Metrics writes CloudWatch embedded metrics. Nothing here is ever given a secret, a private key or
a token: log calls pass ids, kinds, codes and timings only.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections import Counter
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .domain.errors import ConfigurationError, StreamTokenError, as_stream_error

SERVICE = "stream-signed-urls"
NAMESPACE = "StreamSignedUrls"

# Every metric name and dimension the code emits: the one table of them. The dashboard and the
# alarms in template.yaml are generated from these (`make dashboard`; tests tie them to real output).
SERVICE_DIMENSION = "service"  # Powertools' dimension on every metric, valued SERVICE
TOKENS_ISSUED, ISSUER = "TokensIssued", "Issuer"  # Issuer: an issuer's name (`local`, `api`)
ERRORS, ERROR_KIND = "Errors", "ErrorKind"  # ErrorKind: an error type's name (errors.py)
UPSTREAM_LATENCY = "UpstreamLatency"  # ms per call to Cloudflare, retries included
SIGNING_KEYS, SIGNING_KEY_EVENT = "SigningKeys", "Event"  # Event: see signing_keys()
RATE_LIMITED, LIMITED_BY = "RateLimited", "LimitedBy"  # LimitedBy: one of the LIMITED_BY_* values
LIMITED_BY_CLOUDFLARE = "Cloudflare"  # Cloudflare answered 429 (its own limit, shared with the account's other users)
LIMITED_BY_SHARE = "Share"  # this deployment refused the call: its share of Cloudflare's limit is used up
LIMITED_BY_BUDGET_STORE = "BudgetStore"  # refused: the budget table failed and no reserved concurrency bounds the calls
SHARE_USED = "CloudflareShareUsed"  # percent of a container's share in use, after each call it lets through
BUDGET_STORE_FALLBACK, FALLBACK_REASON = "BudgetStoreFallback", "Reason"  # a table failure; Reason: its error code
COLD_START, FUNCTION_NAME = "ColdStart", "function_name"  # Powertools' cold start metric and its dimension
REFUSALS, REASON = "Refusals", "Reason"  # Reason: why the policy refused (NotPermitted's reasons, "quota")
POLICY_REJECTED = "PolicyRejected"  # a policy document that failed its schema (the last good one stays)
SIGNING_KEY_MISSING = "SigningKeyMissing"  # a secret read without a signing key while SIGNING_MODE is local or auto
EMITTED = (
    TOKENS_ISSUED,
    ERRORS,
    UPSTREAM_LATENCY,
    SIGNING_KEYS,
    RATE_LIMITED,
    SHARE_USED,
    BUDGET_STORE_FALLBACK,
    COLD_START,
    REFUSALS,
    POLICY_REJECTED,
    SIGNING_KEY_MISSING,
)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_metrics_lock = threading.Lock()
# An invocation that only failed publishes its Errors metric on its own (below): not a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def tokens_issued(issuer: str, count: int) -> None:
    """Tokens signed by one issuer (a batch may use two), each count with its Issuer dimension."""
    _publish(TOKENS_ISSUED, MetricUnit.Count, count, ISSUER, issuer)


def upstream_latency(milliseconds: float) -> None:
    """Time spent on one call to Cloudflare, retries included, whether it succeeded or not.
    (Batches call this from several threads; Powertools' metric set is not thread-safe.)"""
    with _metrics_lock:
        metrics.add_metric(name=UPSTREAM_LATENCY, unit=MetricUnit.Milliseconds, value=milliseconds)


def rate_limited(limited_by: str) -> None:
    """A call to Cloudflare that a rate limit stopped: Cloudflare's own 429 (LIMITED_BY_CLOUDFLARE),
    this deployment's share used up before the call was made (LIMITED_BY_SHARE), or the share not
    countable, the budget table failing with no reserved concurrency to bound the calls
    (LIMITED_BY_BUDGET_STORE)."""
    _publish(RATE_LIMITED, MetricUnit.Count, 1, LIMITED_BY, limited_by)


def share_used(percent: float) -> None:
    """How much of this container's share of Cloudflare's rate limit is in use, after a call it let through."""
    with _metrics_lock:
        metrics.add_metric(name=SHARE_USED, unit=MetricUnit.Percent, value=round(percent, 1))


def signing_keys(event: str, count: int = 1) -> None:
    """What the rotation function did to Stream signing keys: `created`, `deleted`, `already_gone`
    (a retired key Cloudflare no longer had), `deletion_failed` (a retired key kept for the next
    rotation), `discarded` (a new key deleted again because the pending version was not written)."""
    _publish(SIGNING_KEYS, MetricUnit.Count, count, SIGNING_KEY_EVENT, event)


def budget_store_fallback(reason: str, *, static_share: bool = True) -> None:
    """The Cloudflare call budget table failed (`reason`: the error's code): this container spends
    its static share (`static_share`), or refuses every call to Cloudflare, until it tries the table again."""
    message = _STATIC_SHARE if static_share else _FAIL_CLOSED
    logger.warning(message, extra={"reason": reason})
    _publish(BUDGET_STORE_FALLBACK, MetricUnit.Count, 1, FALLBACK_REASON, reason)


def signing_key_missing() -> None:
    """The secret just read holds no signing key though SIGNING_MODE is local or auto: minting
    fails (local) or calls Cloudflare's API, within its rate share (auto). Once per secret read."""
    logger.warning("the Cloudflare secret holds no signing key: SIGNING_MODE local fails, auto calls Cloudflare's API")
    with single_metric(
        name=SIGNING_KEY_MISSING,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={SERVICE_DIMENSION: SERVICE},
    ):
        pass


_STATIC_SHARE = "Cloudflare call budget table unavailable; using this container's static share"
_FAIL_CLOSED = "Cloudflare call budget table unavailable; calls to Cloudflare refused until it answers"


def _publish(name: str, unit: MetricUnit, value: float, dimension: str, dimension_value: str) -> None:
    """One metric with its own dimension, written at once (a single EMF line)."""
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={SERVICE_DIMENSION: SERVICE}
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
        logger.error("unexpected failure", exc_info=exc)
    elif isinstance(failure, ConfigurationError):
        logger.error("configuration error", extra={"detail": failure.detail} | failure.audit)
    else:
        errors = [d.to_json() for d in failure.details]
        logger.info(
            "request refused", extra={"kind": failure.kind, "status": failure.status, "errors": errors} | failure.audit
        )
    _publish(ERRORS, MetricUnit.Count, 1, ERROR_KIND, failure.kind)
    reason = getattr(failure, "reason", None)
    if reason is not None:
        _publish(REFUSALS, MetricUnit.Count, 1, REASON, reason)
    return failure


def tokens_issued_audit(caller: dict[str, str], rule: str, tokens: list[tuple[str, str]]) -> None:
    """One log line per issued token (`message` "token issued", the caller, the rule, and each
    token's (issuer, audit members as JSON text): never the token), and the TokensIssued count per
    issuer.

    The lines carry the invocation's request and correlation ids and are written at once:
    formatting each through the logger cost a tenth of a batch token's time.
    """
    if not tokens:
        return
    if logger.log_level <= logging.INFO:
        base = {"level": "INFO", "message": "token issued", "timestamp": _now(), "service": SERVICE}
        context = logger.get_current_keys()
        base |= {key: context[key] for key in _AUDIT_CONTEXT if key in context} | {"caller": caller, "rule": rule}
        head = json.dumps(base, separators=(",", ":"), default=str)[:-1]  # the line up to its closing brace
        sys.stdout.write("".join(f"{head},{members}}}\n" for _, members in tokens))
    for issuer, count in Counter(issuer for issuer, _ in tokens).items():
        tokens_issued(issuer, count)


_AUDIT_CONTEXT = ("function_request_id", "correlation_id")
"""The invocation's keys an audit line carries (the log stream says which function)."""


def policy_rejected(reason: str) -> None:
    """A policy document that failed to load (`reason` says where, never the document): the last
    good policy stays in force."""
    logger.error("minting policy rejected; the last good policy stays in force", extra={"reason": reason})
    _publish(POLICY_REJECTED, MetricUnit.Count, 1, REASON, "schema")


def _now() -> str:
    """A timestamp as Powertools writes it (ISO 8601, milliseconds, UTC offset)."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}+0000"
