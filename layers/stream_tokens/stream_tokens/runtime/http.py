"""HTTP on the way in and out: a request body decoded (with its size limits), and the answers in
Cloudflare's envelope, for the entry points that speak HTTP."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from .. import observability
from ..domain.errors import (
    BODY_NOT_JSON,
    BODY_NOT_OBJECT,
    INVALID_VALUE,
    UNKNOWN_FIELD,
    ErrorDetail,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    StreamTokenError,
)
from ..domain.model import SignedToken
from ..domain.request_schema import pointer
from ..domain.token_requests import BatchItem, UncheckedRequest, batch_requests
from . import envelope
from .http_routes import HttpAnswer, HttpRequest

MAX_BODY_BYTES = 16 * 1024
MAX_BATCH_BODY_BYTES = 512 * 1024
BATCH_AT = "/requests"  # where a batch's requests are in its body (its items' error pointers start there)
HEADERS = {"Cache-Control": "no-store"}


def decode_body(raw: str | None, *, base64_encoded: bool = False, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The JSON object a caller sent over HTTP; no body (or only whitespace) means `{}`."""
    data = _body_bytes(raw, base64_encoded)
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is {len(data)} bytes; at most {limit} are accepted")
    if not data.strip():
        return {}
    try:
        fields = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, f"the body is not valid JSON: {reason}", "")]) from None
    if not isinstance(fields, dict):
        raise InvalidRequest(
            [ErrorDetail(BODY_NOT_OBJECT, 'the body must be a JSON object, e.g. {"exp": 1700000000}', "")]
        )
    return fields


def _body_bytes(raw: str | None, base64_encoded: bool) -> bytes:
    try:
        data = (raw or "").encode()
    except UnicodeEncodeError:  # a lone surrogate: not text any client could have sent as UTF-8
        raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, "the body is not valid UTF-8", "")]) from None
    if not base64_encoded:
        return data
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, "the body is not valid base64", "")]) from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def sent_request(request: HttpRequest) -> UncheckedRequest:
    """The token request of POST /videos/{identifier}/token or /accounts/{account_id}/stream/{identifier}/token:
    the path's identifiers and the body (a body that cannot be read is reported with them)."""
    params = request.path_parameters
    unreadable: tuple[ErrorDetail, ...] = ()
    try:
        fields = decode_body(request.body, base64_encoded=request.base64_encoded)
    except InvalidRequest as exc:  # a body over the limit is PayloadTooLarge: refused at once
        fields, unreadable = {}, tuple(exc.details)
    return UncheckedRequest(params.get("identifier"), fields, params.get("account_id"), unreadable)


def batch_body(request: HttpRequest, *, max_items: int) -> list[BatchItem]:
    """The requests of POST /videos/tokens: its body is `{"requests": [...]}`."""
    fields = decode_body(request.body, base64_encoded=request.base64_encoded, limit=MAX_BATCH_BODY_BYTES)
    unknown = [name for name in fields if name != "requests"]
    problems = [ErrorDetail(UNKNOWN_FIELD, f"unknown field {name!r}", pointer([name])) for name in unknown]
    if "requests" not in fields:
        problems.append(ErrorDetail(INVALID_VALUE, "requests is required", "/requests"))
    if problems:
        raise InvalidRequest(problems)
    return batch_requests(fields["requests"], at=BATCH_AT, max_items=max_items)


def token(signed: SignedToken) -> HttpAnswer:
    """A 200 with the token and its URLs."""
    return HttpAnswer(200, _success_text(signed_token_text(signed)), HEADERS | _JSON)


def batch(outcomes: list[SignedToken | StreamTokenError]) -> HttpAnswer:
    """A 200 with one envelope per item; `Retry-After` when an item was rate limited."""
    waits = [o.retry_after for o in outcomes if isinstance(o, RateLimited) and o.retry_after is not None]
    headers = {"Retry-After": str(max(waits))} if waits else {}
    pieces = [envelope.SUCCESS_OPEN, "["]  # joined once: the answer is ~3.3 KB a token, copied as few times as can be
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, SignedToken):
            pieces += (envelope.SUCCESS_OPEN, signed_token_text(outcome), "}", ",")
        else:
            pieces += (_compact(envelope.outcome(outcome, at=f"{BATCH_AT}/{i}")), ",")
    if outcomes:
        pieces.pop()  # the last item's comma
    pieces.append("]}")
    return HttpAnswer(200, "".join(pieces), HEADERS | headers | _JSON)


def _success_text(result_text: str) -> str:
    """The text of `envelope.success(result)` around the text of `result`."""
    return f"{envelope.SUCCESS_OPEN}{result_text}}}"


def signed_token_text(signed: SignedToken) -> str:
    """`json.dumps(signed.to_json(), separators=(",", ":"))`, written around the token's escaped text.

    The token is in each of the four or five URLs too: escaping the same ~400 characters five or six
    times was most of a batch answer's cost, and the largest part of the batch route's time beside
    the signatures. Here it is escaped once (docs/benchmarks.md has the figures).
    tests/unit/test_http_answers.py holds this to `json.dumps`, byte for byte.
    """
    escaped = _json_text(signed.token)
    before = _escape(signed.urls.origin) + escaped
    named = ",".join(f"{name}{before}{path}" for name, path in _url_fields(signed.urls.paths()))
    return (
        f'{{"token":"{escaped}","video_id":{json.dumps(signed.video_id)},'
        f'"expires_at":{signed.expires_at:d},"urls":{{{named}}}}}'
    )


def _json_text(text: str) -> str:
    """What `json.dumps` writes between the quotes of `text`. A token (base64url parts joined by dots)
    has nothing to escape, which bytes methods show at memory speed: json's escaping of its ~400
    characters was about a tenth of a batch token's Python instructions (callgrind)."""
    if text.isascii() and text.encode("ascii").replace(b".", b"").replace(b"-", b"").replace(b"_", b"").isalnum():
        return text
    return json.dumps(text)[1:-1]


@lru_cache(maxsize=8)
def _url_fields(paths: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Each URL's JSON text before and after its origin and token: `"iframe":"` and `/iframe"`."""
    return tuple((f'"{_escape(name)}":"', f'{_escape(path)}"') for name, path in paths)


_escape = lru_cache(maxsize=64)(_json_text)
"""`_json_text`, kept: the URLs' origin, names and paths are the same few strings every time."""


def error(exc: Exception) -> HttpAnswer:
    """The answer for any failure, logged and counted once; nothing of a secret or a stack trace is sent."""
    failure = observability.log_and_count_failure(exc)
    headers = {}
    if isinstance(failure, RateLimited) and failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after)
    return _json(failure.status, envelope.failure(failure.details), headers)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpAnswer:
    return HttpAnswer(status, _compact(body), HEADERS | (headers or {}) | _JSON)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_JSON = {"Content-Type": "application/json"}
