"""Minting: validate, load credentials, have the issuer sign, return the token with its URLs.

Knows nothing of API Gateway or Lambda: entry points hand it a video id, the request fields, the
account the caller named (if any) and a deadline, and get a `SignedToken` or a `StreamTokenError`.
It reaches credentials and issuers through its ports (`services.ports`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import observability
from ..domain.call_limits import CallLimits, RateLimitHalt
from ..domain.credentials import CloudflareCredentials
from ..domain.errors import (
    AccountMismatch,
    ConfigurationError,
    ErrorDetail,
    InvalidRequest,
    RateLimited,
    StreamTokenError,
    UpstreamAuthRejected,
    UpstreamCredentialsRejected,
)
from ..domain.model import SignedToken, TokenRequest
from ..domain.token_requests import checked_request, request_item
from ..domain.urls import signed_urls
from .ports import CredentialsSource, TokenIssuer

type Outcome = SignedToken | StreamTokenError


@dataclass(frozen=True)
class MintingPolicy:
    """What minting is allowed to do (the runtime fills it from the configuration)."""

    customer_code: str
    """The CODE of the account's customer-CODE.cloudflarestream.com playback subdomain."""
    signing_mode: str
    """auto: sign locally when a key is at hand, else call the API; local: always here; api: always the API."""
    max_token_lifetime: int
    """Ceiling on exp - now, in seconds."""
    upstream_concurrency: int
    """Most calls to Cloudflare a batch makes at once."""
    batch_max_items: int
    """Most tokens one batch may ask for."""


@dataclass(frozen=True)
class _Planned:
    """An accepted batch item, with the issuer chosen for it (once)."""

    index: int
    request: TokenRequest
    account_id: str | None
    issuer: TokenIssuer


class TokenService:
    def __init__(
        self,
        policy: MintingPolicy,
        credentials: CredentialsSource,
        api: TokenIssuer,
        local: Callable[[], TokenIssuer],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`api` calls Cloudflare; `local` gives the local issuer (built on first use: it imports
        the crypto libraries, which an API-only container never needs)."""
        self.policy = policy
        self.credentials = credentials
        self.api = api
        self.local = local
        self.clock = clock

    def validate(
        self, video_id: object, read_fields: Callable[[], Mapping[str, Any]], account_id: object = None
    ) -> tuple[TokenRequest, str | None]:
        """Check a request without any I/O; raises InvalidRequest naming every bad field.

        `read_fields` produces the body's fields (decoding it may itself fail); `account_id` is the
        account the caller named, if any. Returns the request and that account, normalised.
        """
        now, lifetime = int(self.clock()), self.policy.max_token_lifetime
        return checked_request(video_id, read_fields, account_id=account_id, now=now, max_lifetime=lifetime)

    def validate_item(self, item: object, *, at: str = "") -> tuple[TokenRequest, str | None]:
        """One `{"identifier", "account_id"?, <token fields>}` object; error pointers rooted at `at`."""
        return request_item(item, at=at, now=int(self.clock()), max_lifetime=self.policy.max_token_lifetime)

    def mint(self, request: TokenRequest, *, deadline: float, account_id: str | None = None) -> SignedToken:
        """Sign `request`. `account_id`, when the caller named one, must be the configured account."""
        credentials = self.credentials.get()
        issuer = self.issuer_for(request, credentials)
        token = self._mint_one(request, account_id, issuer, credentials, CallLimits(deadline))
        observability.logger.info("token issued", extra=_log_fields(token, issuer.name))
        observability.tokens_issued(issuer.name, 1)
        return token

    def mint_many(self, items: Sequence[object], *, deadline: float, at: str = "") -> list[Outcome]:
        """A token per item, in order; a failed item is its error and does not fail the others.

        Every item is validated first (no I/O). Items that go to Cloudflare's API are sent at most
        `upstream_concurrency` at a time; once a call is refused for the rate limit, the batch's
        halt is tripped: no call retries and the items not yet sent are marked rate limited. Each
        failure is logged and counted once; a configuration error fails the whole batch.
        """
        outcomes: dict[int, Outcome] = {}
        accepted: list[tuple[int, TokenRequest, str | None]] = []
        for i, item in enumerate(items):
            try:
                accepted.append((i, *self.validate_item(item, at=f"{at}/{i}")))
            except InvalidRequest as exc:
                outcomes[i] = observability.log_and_count_failure(exc)
        if accepted:
            outcomes |= self._mint_accepted(accepted, CallLimits(deadline, RateLimitHalt()))
        results = [outcomes[i] for i in range(len(items))]
        misconfigured = next((o for o in results if isinstance(o, ConfigurationError)), None)
        if misconfigured is not None:
            raise misconfigured
        return results

    def issuer_for(self, request: TokenRequest, credentials: CloudflareCredentials) -> TokenIssuer:
        """The signing mode decides; in `auto`, any key at hand means local signing."""
        mode = self.policy.signing_mode
        has_key = request.signing_key is not None or credentials.signing_key is not None
        return self.local() if mode == "local" or (mode == "auto" and has_key) else self.api

    def _mint_accepted(
        self, accepted: list[tuple[int, TokenRequest, str | None]], limits: CallLimits
    ) -> dict[int, Outcome]:
        """Local items here, one by one; Cloudflare's in a pool of `upstream_concurrency` threads."""
        credentials = self.credentials.get()
        planned = [_Planned(i, req, account, self.issuer_for(req, credentials)) for i, req, account in accepted]

        def one(item: _Planned) -> tuple[_Planned, Outcome]:
            return item, self._batch_item(item, credentials, limits)

        results = [one(item) for item in planned if not item.issuer.remote]
        remote = [item for item in planned if item.issuer.remote]
        if remote:
            with ThreadPoolExecutor(max_workers=min(self.policy.upstream_concurrency, len(remote))) as pool:
                results += pool.map(one, remote)
        _report_issued([(item.issuer.name, outcome) for item, outcome in results])
        return {item.index: outcome for item, outcome in results}

    def _batch_item(self, item: _Planned, credentials: CloudflareCredentials, limits: CallLimits) -> Outcome:
        """One item's token, or its error logged and counted (a configuration error is returned
        unlogged: the batch raises it)."""
        if limits.halt is not None and limits.halt.tripped:
            skipped = RateLimited(
                "not sent: an earlier item hit Cloudflare's rate limit", retry_after=limits.halt.retry_after
            )
            return observability.log_and_count_failure(skipped)
        try:
            return self._mint_one(item.request, item.account_id, item.issuer, credentials, limits)
        except ConfigurationError as exc:
            return exc
        except Exception as exc:  # one item's failure, even an unexpected one, is that item's
            return observability.log_and_count_failure(exc)

    def _mint_one(
        self,
        request: TokenRequest,
        account_id: str | None,
        issuer: TokenIssuer,
        credentials: CloudflareCredentials,
        limits: CallLimits,
    ) -> SignedToken:
        """The token with its URLs (logs and metrics of the issued token are the caller's)."""
        if account_id is not None and account_id.lower() != credentials.account_id:
            message = "account_id is not the account this service mints for"
            raise AccountMismatch(message, [ErrorDetail(AccountMismatch.code, message, "/account_id")])
        started = time.perf_counter()
        try:
            token = self._issue(issuer, request, credentials, limits)
        finally:
            if issuer.remote:
                observability.upstream_latency((time.perf_counter() - started) * 1000)
        urls = signed_urls(self.policy.customer_code, request.downloadable)
        return SignedToken(token=token, video_id=request.video_id, expires_at=request.exp, urls=urls)

    def _issue(
        self, issuer: TokenIssuer, request: TokenRequest, credentials: CloudflareCredentials, limits: CallLimits
    ) -> str:
        """Issue; when Cloudflare refuses the credentials, re-read the secret once and try again."""
        try:
            return issuer.issue(request, credentials, limits)
        except UpstreamAuthRejected:
            observability.logger.warning("Cloudflare refused the credentials; re-reading the secret once")
        try:
            return issuer.issue(request, self.credentials.get(refresh=True), limits)
        except UpstreamAuthRejected as again:
            raise UpstreamCredentialsRejected.after(again, "with the stored credentials") from None


def _report_issued(outcomes: list[tuple[str, Outcome]]) -> None:
    """One log line for a batch's tokens (a line per token would cost more than signing it), and
    the TokensIssued count per issuer."""
    issued = [(issuer, outcome) for issuer, outcome in outcomes if isinstance(outcome, SignedToken)]
    if issued:
        tokens = [_log_fields(token, issuer) for issuer, token in issued]
        observability.logger.info("tokens issued", extra={"count": len(tokens), "tokens": tokens})
    for issuer, count in Counter(issuer for issuer, _ in issued).items():
        observability.tokens_issued(issuer, count)


def _log_fields(token: SignedToken, issuer: str) -> dict[str, Any]:
    """What the log says of an issued token: never the token itself."""
    return {"video_id": token.video_id, "issuer": issuer, "expires_at": token.expires_at}
