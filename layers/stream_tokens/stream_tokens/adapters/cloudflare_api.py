"""Cloudflare's Stream API over HTTPS (the only module that talks to Cloudflare).

One `requests.Session` per container keeps the TLS connection alive between invocations. Every
attempt, retries included, is paid for from this container's share of Cloudflare's API rate limit
(`CallSpender`); the retry loop, its deadline, `Retry-After` and backoff are all in `_call`, written
out because urllib3's `Retry` has no per-call hook for a deadline, a batch's halt or the share
(its backoff rule is kept: a unit test holds `backoff_seconds` to it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .. import observability
from ..domain.call_limits import CallLimits, CallSpender, CallsUncounted
from ..domain.errors import RateLimited, UpstreamTimeout, UpstreamUnavailable
from ..domain.model import NewSigningKey, is_cloudflare_id
from . import cloudflare_answers as answers
from .cloudflare_answers import retry_after_seconds

RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})
RETRY_ERRORS = (requests.ConnectionError, requests.Timeout)  # refused, dropped, timed out: tried again
BACKOFF_FACTOR, BACKOFF_MAX = 0.5, 8.0  # seconds: 0, 1, 2, 4, 8, 8... before the 1st, 2nd, 3rd... retry
_SHARE_USED_UP = "this deployment's share of Cloudflare's API rate limit is used up; sign locally for volume"
_SHARE_UNCOUNTED = (
    "this deployment cannot count its calls to Cloudflare (its budget table failed), so it makes none; "
    "sign locally, which is not affected"
)
_NO_CALL_FOR_RETRY = "Cloudflare failed, and this deployment's share of its rate limit had no call left for a retry"


def backoff_seconds(failures: int) -> float:
    """The wait before retrying after `failures` failed attempts, Retry-After aside (urllib3's rule)."""
    return 0.0 if failures <= 1 else min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (failures - 1))


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
        """`max_retries`: attempts after the first (POST included: minting twice is harmless);
        `pool_size`: connections kept alive for concurrent calls (a batch's concurrency);
        `calls`: this container's share of Cloudflare's rate limit (None: unlimited)."""
        self.calls = calls
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self.session = requests.Session()
        for scheme in ("https://", "http://"):  # no retries below `_call`'s own
            self.session.mount(scheme, HTTPAdapter(max_retries=0, pool_maxsize=max(pool_size, 1)))
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
            token = answers.result(response, "a token").get("token")
        if not isinstance(token, str) or not token:
            raise UpstreamUnavailable("Cloudflare answered without a token")
        return token

    # -- Stream signing keys (the rotation function) -------------------------------------------
    def create_signing_key(self, account_id: str, auth: dict[str, str], deadline: float) -> NewSigningKey:
        """`POST /accounts/{account_id}/stream/keys`: a new key, shown this once. One attempt, never
        retried here: a retry after a lost answer would create a second key that nobody records
        (Secrets Manager retries the whole step instead)."""
        path = f"/accounts/{account_id}/stream/keys"
        result = answers.result(self._call("POST", path, {}, auth, CallLimits(deadline), retry=False), "a signing key")
        key = NewSigningKey(**{field: str(result.get(field, "")) for field in ("id", "pem", "jwk")})
        if not (is_cloudflare_id(key.id) and key.pem and key.jwk):
            raise UpstreamUnavailable("Cloudflare answered without a signing key (id, pem and jwk)")
        return key

    def list_signing_keys(self, account_id: str, auth: dict[str, str], deadline: float) -> set[str]:
        """`GET /accounts/{account_id}/stream/keys`: the ids of the account's signing keys."""
        response = self._call("GET", f"/accounts/{account_id}/stream/keys", None, auth, CallLimits(deadline))
        payload = answers.successful(response)
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
        if answers.successful(response).get("success") is not True:
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
        """One call within `limits` and this container's rate share, tried again (unless `retry` is
        False) on a RETRY_STATUSES answer or a RETRY_ERRORS failure while a retry is left, the batch
        is not halted, the batch's call did not get a 429 (that stops the whole batch), and the wait
        (Retry-After, else the backoff) plus one more attempt still ends before the deadline. So a
        Retry-After too long for the deadline is answered at once. Ids in `path` must be validated."""
        timeout = self._timeout(limits.deadline)
        self._spend_first_call()
        failures = 0
        while True:
            response, error = _attempt(
                partial(self.session.request, method, self.base_url + path, json=body, headers=auth, timeout=timeout)
            )
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response
            failures += 1
            header = response.headers.get("Retry-After") if response is not None else None
            wait = retry_after_seconds(header) or backoff_seconds(failures)
            batch_429 = limits.halt is not None and response is not None and response.status_code == 429
            late = time.monotonic() + wait + sum(timeout) > limits.deadline
            if not retry or failures > self.max_retries or late or batch_429 or limits.halted:
                break
            if wait > 0:
                time.sleep(wait)
            if not self._retry_spent():  # spent right before it is sent
                raise UpstreamUnavailable(_NO_CALL_FOR_RETRY)
        if response is None:
            raise _failure(error) from None
        return response

    def _timeout(self, deadline: float) -> tuple[float, float]:
        """Each attempt's (connect, read) timeouts, none past the deadline; none left: no call."""
        left = deadline - time.monotonic()
        if left <= 0.1:
            raise UpstreamTimeout("no time left to call Cloudflare")
        return (min(self.connect_timeout, left), min(self.read_timeout, left))

    def _spend_first_call(self) -> None:
        """Spend the call's first attempt from the share; none left, or the share not countable: a
        429 at once, Cloudflare unasked."""
        if self.calls is None:
            return
        try:
            wait, limited_by = self.calls.take(), observability.LIMITED_BY_SHARE
        except CallsUncounted as uncounted:
            wait, limited_by = max(uncounted.wait, 1.0), observability.LIMITED_BY_BUDGET_STORE
        if wait > 0:
            observability.rate_limited(limited_by)
            raise RateLimited(
                _SHARE_USED_UP if limited_by == observability.LIMITED_BY_SHARE else _SHARE_UNCOUNTED,
                retry_after=math.ceil(min(wait, answers.RATE_LIMIT_BLOCK_SECONDS)),
            )
        observability.share_used(self.calls.used_percent())

    def _retry_spent(self) -> bool:
        """Whether the share had a call for a retry (spent if so)."""
        try:
            return self.calls is None or self.calls.take() == 0
        except CallsUncounted:
            return False


def _attempt(send: Callable[[], requests.Response]) -> tuple[requests.Response | None, Exception | None]:
    """One request: its answer, or the failure a retry may cure (any other failure raises)."""
    try:
        return send(), None
    except RETRY_ERRORS as exc:
        return None, exc
    except requests.RequestException as exc:
        raise _failure(exc) from None


def _failure(exc: Exception | None) -> UpstreamTimeout | UpstreamUnavailable:
    """What a call that got no answer means: a timeout (connecting or reading), or Cloudflare unreachable."""
    if isinstance(exc, requests.Timeout):
        return UpstreamTimeout("Cloudflare did not answer in time")
    return UpstreamUnavailable("could not reach Cloudflare")
