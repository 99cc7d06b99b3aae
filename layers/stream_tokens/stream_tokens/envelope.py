"""Cloudflare's response envelope, which every answer of this package uses."""

from __future__ import annotations

from typing import Any

from .errors import ErrorDetail


def success(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def failure(details: list[ErrorDetail]) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [detail.to_json() for detail in details],
        "messages": [],
        "result": None,
    }
