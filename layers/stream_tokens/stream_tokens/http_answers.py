"""HTTP answers in Cloudflare's envelope, for the entry points that speak HTTP."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from . import envelope, observability
from .errors import RateLimited, StreamTokenError
from .model import SignedToken

HEADERS = {"Cache-Control": "no-store"}


def ok(result: Any) -> Response[str]:
    return _json(200, envelope.success(result))


def batch(outcomes: list[SignedToken | StreamTokenError]) -> Response[str]:
    """A 200 with one envelope per item; `Retry-After` when an item was rate limited."""
    waits = [o.retry_after for o in outcomes if isinstance(o, RateLimited) and o.retry_after is not None]
    headers = {"Retry-After": str(max(waits))} if waits else {}
    return _json(200, envelope.success([envelope.outcome(outcome) for outcome in outcomes]), headers)


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
