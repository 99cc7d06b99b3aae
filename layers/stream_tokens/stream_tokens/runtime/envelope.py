"""Cloudflare's response envelope, which every answer of this package uses."""

from __future__ import annotations

from typing import Any

from ..domain.errors import ErrorDetail, InvalidRequest, StreamTokenError
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


def outcome(result: SignedToken | StreamTokenError, *, at: str) -> dict[str, Any]:
    """The item at `at` of a batch's answer: the envelope, plus the HTTP status and the error
    type's name on failures (the name a Step Functions Catch would match for a single request).
    Error pointers are rooted at the item (an invalid request's error about the whole item points at it)."""
    if isinstance(result, StreamTokenError):
        details = [_rooted(d, at, whole=isinstance(result, InvalidRequest)) for d in result.details]
        return failure(details) | {"status": result.status, "error_type": result.kind}
    return success(result.to_json())


def _rooted(detail: ErrorDetail, at: str, *, whole: bool) -> ErrorDetail:
    """The same error, its pointer inside the item at `at` (the message stays as it is); a detail
    without a pointer keeps none, unless it is about the `whole` item."""
    if detail.pointer is None and not whole:
        return detail
    return ErrorDetail(detail.code, detail.message, at + (detail.pointer or ""))
