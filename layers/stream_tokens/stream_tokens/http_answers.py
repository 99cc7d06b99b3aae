"""HTTP answers in Cloudflare's envelope, for the entry points that speak HTTP."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from . import envelope, observability
from .errors import RateLimited

HEADERS = {"Cache-Control": "no-store"}


def ok(result: Any) -> Response[str]:
    return _json(200, envelope.success(result))


def error(exc: Exception) -> Response[str]:
    """The answer for any failure, logged once; nothing of a secret or a stack trace is sent."""
    exc = observability.refused(exc)
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
