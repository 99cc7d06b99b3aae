"""HTTP answers in Cloudflare's envelope, for the entry points that speak HTTP."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from . import envelope, observability
from .errors import ConfigurationError, RateLimited, StreamTokenError

HEADERS = {"Cache-Control": "no-store"}
INTERNAL_ERROR = StreamTokenError("Internal error; the operator has been told.")


def ok(result: Any) -> Response[str]:
    return _json(200, envelope.success(result))


def error(exc: Exception) -> Response[str]:
    """The answer for any failure, logged once; nothing of a secret or a stack trace is sent."""
    if not isinstance(exc, StreamTokenError):
        observability.logger.exception("unexpected failure")
        exc = INTERNAL_ERROR
    elif isinstance(exc, ConfigurationError):
        observability.logger.error("configuration error", extra={"detail": exc.detail})
    else:
        observability.logger.info(
            "request refused",
            extra={"kind": exc.kind, "status": exc.status, "errors": [d.to_json() for d in exc.details]},
        )
    observability.error(exc.kind)
    headers = {}
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return _json(exc.status, envelope.failure(exc.details), headers)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers=HEADERS | (headers or {}),
    )
