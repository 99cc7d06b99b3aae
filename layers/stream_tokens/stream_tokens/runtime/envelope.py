"""Cloudflare's response envelope, which every answer of this package uses."""

from __future__ import annotations

from typing import Any

from ..domain.errors import ErrorDetail, StreamTokenError
from ..domain.model import SignedToken


def success(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


SUCCESS_OPEN = '{"success":true,"errors":[],"messages":[],"result":'
"""The compact JSON text of `success(result)` up to the text of `result` (runtime.http writes answers
around it; tests hold it to `json.dumps`)."""


def failure(details: list[ErrorDetail]) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [detail.to_json() for detail in details],
        "messages": [],
        "result": None,
    }


def outcome(result: SignedToken | StreamTokenError) -> dict[str, Any]:
    """One item of a batch's answer: the envelope, plus the HTTP status and the error type's name
    on failures (the name a Step Functions Catch would match for a single request)."""
    if isinstance(result, StreamTokenError):
        return failure(result.details) | {"status": result.status, "error_type": result.kind}
    return success(result.to_json())
