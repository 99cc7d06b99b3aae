"""Cloudflare's Stream API over HTTPS (the only module that talks to Cloudflare).

Every call, retries included, is paid for from this container's share of Cloudflare's API rate
limit (`CallBudget`): past it, the answer is a 429 at once, and Cloudflare never sees the call.

One `requests.Session` per container keeps the TLS connection alive between invocations. Retries
are urllib3's `Retry` (408, 409, 429, 5xx and connection errors, exponential backoff, `Retry-After`
honoured; none for the signing key creation), bounded by the call's `CallLimits`: no retry starts,
and no `Retry-After` is waited for, when it could not finish before the deadline (the Lambda's
remaining time), and none once the batch's halt is tripped. A `Retry-After` longer than that
(Cloudflare blocks for 5 minutes) is answered at once as a 429.

The limits arrive as arguments; requests offers no per-call hook into the `Retry` mounted on the
session, so `_call` hands them to `DeadlineRetry` through one context variable, `_current_call`,
set for the duration of that call only (the one place this module keeps per-call state).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .. import observability
from ..domain.call_limits import CallLimits, CallSpender
from ..domain.errors import (
    ErrorDetail,
    RateLimited,
    UpstreamAuthRejected,
    UpstreamRejectedRequest,
    UpstreamTimeout,
    UpstreamUnavailable,
    VideoNotFound,
)
from ..domain.model import NewSigningKey, is_cloudflare_id

RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})
RATE_LIMIT_BLOCK_SECONDS = 300  # Cloudflare blocks every call for 5 minutes past its limit
_MAX_UPSTREAM_MESSAGE = 500
_NO_CALL_FOR_RETRY = "Cloudflare failed, and this deployment's share of its rate limit had no call left for a retry"


@dataclass(frozen=True)
class _Call:
    """What the retry policy needs to know of the call in progress."""

    limits: CallLimits
    attempt: float  # the longest one attempt can take (connect + read timeouts)
    calls: CallSpender | None = None  # retries are calls too
    retries: bool = True  # False: one attempt only (a call that must not be repeated blindly)

    def refuses_retry(self, wait: float, response: BaseHTTPResponse | None) -> bool:
        """No retry: one attempt only, no time for another, the batch halted, or (in a batch)
        Cloudflare's 429, which must stop the whole batch rather than be retried."""
        in_batch_429 = self.limits.halt is not None and response is not None and response.status == 429
        late = time.monotonic() + wait + self.attempt > self.limits.deadline
        return not self.retries or late or in_batch_429 or self.limits.halted


_UNBOUNDED = _Call(CallLimits(math.inf), 0.0)
_current_call: ContextVar[_Call | None] = ContextVar("cloudflare_current_call", default=None)


class DeadlineRetry(Retry):
    """urllib3's Retry, refusing any retry that could not finish before the call's deadline."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        call = _current_call.get() or _UNBOUNDED
        if call.refuses_retry(new_retry.wait_before_retry(response), response):
            raise MaxRetryError(_pool, url, error)  # type: ignore[arg-type]
        return new_retry

    def wait_before_retry(self, response: BaseHTTPResponse | None) -> float:
        """How long `sleep` will wait: a non-zero Retry-After, else the backoff (urllib3's rule)."""
        retry_after = self.get_retry_after(response) if response is not None else None
        return retry_after or self.get_backoff_time()

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait, then spend the retry's call from the share: right before it is sent, so that the
        budget's clock and Cloudflare's agree on when it was made. No call left: no retry."""
        super().sleep(response)
        call = _current_call.get() or _UNBOUNDED
        if call.calls is not None and call.calls.take() > 0:
            raise MaxRetryError(None, None, ResponseError(_NO_CALL_FOR_RETRY))  # type: ignore[arg-type]

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Cloudflare's Retry-After; one that cannot be read means "back off as usual"."""
        return retry_after_seconds(response.headers.get("Retry-After"))


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None if absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, Retry().parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError):
        return None


@contextmanager
def _within(call: _Call) -> Iterator[None]:
    token = _current_call.set(call)
    try:
        yield
    finally:
        _current_call.reset(token)


class CloudflareStreamApi:
    """Cloudflare's Stream API with its answers as types: `POST .../stream/{identifier}/token` for
    minting, and the signing keys endpoints (`.../stream/keys`) for the rotation function."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_retries: int,
        pool_size: int = 10,
        calls: CallSpender | None = None,
    ) -> None:
        """`pool_size`: connections kept alive for concurrent calls (a batch's concurrency);
        `calls`: this container's share of Cloudflare's rate limit (None: unlimited)."""
        self.calls = calls
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        retry = DeadlineRetry(
            total=max_retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # minting twice is harmless: POST is retried like GET (but for the key
            # creation, which is never retried: see create_signing_key)
            backoff_factor=0.5,
            backoff_max=8,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.session = requests.Session()
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(max_retries=retry, pool_maxsize=max(pool_size, 1)))
        self.session.headers["User-Agent"] = "stream-signed-urls/1 (+aws-lambda)"
        # The environment's proxy and CA bundle settings, read once here: requests would otherwise
        # scan the whole environment again on every call (trust_env).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False

    def create_token(
        self, account_id: str, video_id: str, body: dict[str, Any], auth: dict[str, str], limits: CallLimits
    ) -> str:
        """Ask Cloudflare to sign a token; `account_id` and `video_id` must already be validated.
        A rate-limit refusal (Cloudflare's, or this container's share used up) trips the batch's halt."""
        with limits.tripping_on_rate_limit():
            response = self._call("POST", f"/accounts/{account_id}/stream/{video_id}/token", body, auth, limits)
            token = _result(response, "a token").get("token")
        if not isinstance(token, str) or not token:
            raise UpstreamUnavailable("Cloudflare answered without a token")
        return token

    # -- Stream signing keys (the rotation function) -------------------------------------------
    def create_signing_key(self, account_id: str, auth: dict[str, str], deadline: float) -> NewSigningKey:
        """`POST /accounts/{account_id}/stream/keys`: a new key, shown this once. One attempt, never
        retried here: a retry after a lost answer would create a second key that nobody records
        (Secrets Manager retries the whole step instead)."""
        response = self._call(
            "POST", f"/accounts/{account_id}/stream/keys", {}, auth, CallLimits(deadline), retry=False
        )
        result = _result(response, "a signing key")
        key = NewSigningKey(
            id=str(result.get("id", "")), pem=str(result.get("pem", "")), jwk=str(result.get("jwk", ""))
        )
        if not (is_cloudflare_id(key.id) and key.pem and key.jwk):
            raise UpstreamUnavailable("Cloudflare answered without a signing key (id, pem and jwk)")
        return key

    def list_signing_keys(self, account_id: str, auth: dict[str, str], deadline: float) -> set[str]:
        """`GET /accounts/{account_id}/stream/keys`: the ids of the account's signing keys."""
        response = self._call("GET", f"/accounts/{account_id}/stream/keys", None, auth, CallLimits(deadline))
        payload = _json(response)
        if not 200 <= response.status_code < 300:
            _raise_for(response, payload)
        result = payload.get("result")
        if payload.get("success") is not True or not isinstance(result, list):
            raise UpstreamUnavailable("Cloudflare answered without a list of signing keys")
        return {str(item["id"]).lower() for item in result if isinstance(item, dict) and "id" in item}

    def delete_signing_key(self, account_id: str, key_id: str, auth: dict[str, str], deadline: float) -> bool:
        """`DELETE /accounts/{account_id}/stream/keys/{id}`, which revokes every token signed with it.
        True when deleted now, False when Cloudflare no longer had it (404)."""
        path = f"/accounts/{account_id}/stream/keys/{key_id}"
        response = self._call("DELETE", path, {}, auth, CallLimits(deadline))
        if response.status_code == 404:
            return False
        payload = _json(response)
        if not 200 <= response.status_code < 300:
            _raise_for(response, payload)
        if payload.get("success") is not True:
            raise UpstreamUnavailable("Cloudflare did not confirm the deletion")
        return True

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        auth: dict[str, str],
        limits: CallLimits,
        *,
        retry: bool = True,
    ) -> requests.Response:
        """One call (retries included, unless `retry` is False) within `limits` and this
        container's rate share; ids in `path` must already be validated."""
        left = limits.deadline - time.monotonic()
        if left <= 0.1:
            raise UpstreamTimeout("no time left to call Cloudflare")
        timeout = (min(self.connect_timeout, left), min(self.read_timeout, left))
        wait = self.calls.take() if self.calls is not None else 0.0
        if wait > 0:
            observability.rate_limited(observability.LIMITED_BY_SHARE)
            raise RateLimited(
                "this deployment's share of Cloudflare's API rate limit is used up; sign locally for volume",
                retry_after=math.ceil(min(wait, RATE_LIMIT_BLOCK_SECONDS)),
            )
        if self.calls is not None:
            observability.share_used(self.calls.used_percent())
        try:
            with _within(_Call(limits, timeout[0] + timeout[1], self.calls, retry)):
                return self.session.request(method, self.base_url + path, json=body, headers=auth, timeout=timeout)
        except requests.exceptions.RetryError:  # only DeadlineRetry.sleep raises it (raise_on_status is off)
            raise UpstreamUnavailable(_NO_CALL_FOR_RETRY) from None
        except requests.RequestException as exc:
            if _is_timeout(exc):
                raise UpstreamTimeout("Cloudflare did not answer in time") from None
            raise UpstreamUnavailable("could not reach Cloudflare") from None


def _result(response: requests.Response, what: str) -> dict[str, Any]:
    """A successful answer's `result` object; any other answer raises the error it means
    (`what` names the result in the message: "Cloudflare answered without a token")."""
    payload = _json(response)
    if 200 <= response.status_code < 300:
        result = payload.get("result")
        if payload.get("success") is not True or not isinstance(result, dict):
            raise UpstreamUnavailable(f"Cloudflare answered without {what}")
        return result
    _raise_for(response, payload)


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


def _json(response: requests.Response) -> dict[str, Any]:
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


def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc.args[0] if exc.args else None, MaxRetryError) and isinstance(reason, ReadTimeoutError)
