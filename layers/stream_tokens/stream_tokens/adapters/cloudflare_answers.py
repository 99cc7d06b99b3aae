"""Cloudflare's answers read into types: a successful answer's `result`, or the error type a
failed one means (Cloudflare's own error codes and messages passed on, capped)."""

from __future__ import annotations

import math
from typing import Any, NoReturn

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from .. import observability
from ..domain.errors import (
    ErrorDetail,
    RateLimited,
    UpstreamAuthRejected,
    UpstreamRejectedRequest,
    UpstreamTimeout,
    UpstreamUnavailable,
    VideoNotFound,
)

RATE_LIMIT_BLOCK_SECONDS = 300  # Cloudflare blocks every call for 5 minutes past its limit
_MAX_UPSTREAM_MESSAGE = 500


def result(response: requests.Response, what: str) -> dict[str, Any]:
    """A successful answer's `result` object; any other answer raises the error it means
    (`what` names the result in the message: "Cloudflare answered without a token")."""
    payload = successful(response)
    result = payload.get("result")
    if payload.get("success") is not True or not isinstance(result, dict):
        raise UpstreamUnavailable(f"Cloudflare answered without {what}")
    return result


def successful(response: requests.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object; any other answer raises the error it means."""
    payload = _answer_object(response)
    if not 200 <= response.status_code < 300:
        _raise_for(response, payload)
    return payload


def _raise_for(response: requests.Response, payload: dict[str, Any]) -> NoReturn:
    """Raise the error type a failed answer means."""
    status = response.status_code
    errors = _errors(payload)
    if status in (401, 403):
        raise UpstreamAuthRejected(status)
    if status == 404:
        raise VideoNotFound("Cloudflare has no such video in this account", errors)
    if status == 429:
        observability.rate_limited(observability.LIMITED_BY_CLOUDFLARE)
        seconds = retry_after_seconds(response.headers.get("Retry-After"))
        raise RateLimited(
            "Cloudflare's API rate limit was reached; try again later",
            errors,
            retry_after=RATE_LIMIT_BLOCK_SECONDS if seconds is None else math.ceil(seconds),
        )
    if status == 408:
        raise UpstreamTimeout("Cloudflare timed out")
    if 400 <= status < 500:
        raise UpstreamRejectedRequest("Cloudflare refused the request", errors)
    raise UpstreamUnavailable(f"Cloudflare failed with HTTP {status}")


def _answer_object(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; anything else (HTML, a list, garbage) reads as {}."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _errors(payload: dict[str, Any]) -> list[ErrorDetail] | None:
    """Cloudflare's own `errors`, passed through: code and message only."""
    items = payload.get("errors")
    items = items if isinstance(items, list) else None
    details = [
        ErrorDetail(item["code"], item["message"][:_MAX_UPSTREAM_MESSAGE])
        for item in items or ()
        if isinstance(item, dict) and isinstance(item.get("code"), int) and isinstance(item.get("message"), str)
    ]
    return details or None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None if absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, Retry().parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError):
        return None
