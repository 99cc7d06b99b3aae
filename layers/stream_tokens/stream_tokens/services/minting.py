"""Minting: validate, load credentials, have the issuer sign, return the token with its URLs.

Knows nothing of API Gateway or Lambda: entry points hand it a video id, the request fields, the
account the caller named (if any) and a deadline, and get a `SignedToken` or a `StreamTokenError`.
It reaches credentials and issuers through its ports (`services.ports`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import observability
from ..domain.call_limits import CallLimits, RateLimitHalt
from ..domain.callers import Caller
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
from ..domain.model import SignedToken, TokenRequest, is_cloudflare_id
from ..domain.token_requests import BatchItem, UncheckedRequest
from ..domain.urls import signed_urls
from .authorization import Admitted, Authorization, Decision, quota_spent
from .ports import CredentialsSource, TokenIssuer

type Outcome = SignedToken | StreamTokenError
CLOUDFLARE_SHARE = "cloudflare-share"  # the quota named when a caller's part of the Cloudflare share is spent


@dataclass(frozen=True)
class MintingSettings:
    """How minting works here (the runtime fills it from the configuration); who may mint what is
    the policy's (services.authorization)."""

    customer_code: str
    """The CODE of the account's customer-CODE.cloudflarestream.com playback subdomain."""
    signing_mode: str
    """auto: sign locally when a key is at hand, else call the API; local: always here; api: always the API."""
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
        settings: MintingSettings,
        *,
        credentials: CredentialsSource,
        api: TokenIssuer,
        local: TokenIssuer,
        authorization: Authorization,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`api` calls Cloudflare; `local` signs here; `authorization` decides who may mint what."""
        self.settings = settings
        self.credentials = credentials
        self.api = api
        self.local = local
        self.authorization = authorization
        self.clock = clock

    def mint(self, caller: Caller, sent: UncheckedRequest, *, deadline: float) -> SignedToken:
        """One token for `caller`, or the error that refused it (raised, for the entry point to log)."""
        (outcome,) = self._outcomes(caller, [sent], CallLimits(deadline))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def mint_many(self, caller: Caller, items: Sequence[BatchItem], *, deadline: float) -> list[Outcome]:
        """A token per item, in order; a failed item is its error and does not fail the others.

        Every item is checked and authorized first (no call to Cloudflare). Items that go to
        Cloudflare's API are sent at most `upstream_concurrency` at a time; once a call is refused
        for the rate limit, the batch's halt is tripped: no call retries and the items not yet sent
        are marked rate limited. Each failure is logged and counted once; a configuration error
        fails the whole batch.
        """
        outcomes = self._outcomes(caller, items, CallLimits(deadline, RateLimitHalt()))
        misconfigured = next((o for o in outcomes if isinstance(o, ConfigurationError)), None)
        if misconfigured is not None:
            raise misconfigured
        return [o if isinstance(o, SignedToken) else observability.log_and_count_failure(o) for o in outcomes]

    def _outcomes(
        self, caller: Caller, items: Sequence[BatchItem], limits: CallLimits
    ) -> list[SignedToken | Exception]:
        """Each item's token or the exception that stopped it (not yet logged); the tokens audited."""
        try:
            decision = self.authorization.decide(caller)
        except StreamTokenError as no_rule:
            raise audited(no_rule, caller) from None
        admitted, refused = self.authorization.admit(decision, items, now=int(self.clock()), deadline=limits.deadline)
        outcomes: dict[int, IssuedToken | Exception] = dict(refused)
        if admitted:
            outcomes |= self._mint_admitted(decision, admitted, limits)
        for i, outcome in outcomes.items():
            if isinstance(outcome, StreamTokenError):
                audited(outcome, caller, decision.rule.name, _video_of(items[i]))
        issued = [o for o in outcomes.values() if isinstance(o, IssuedToken)]
        observability.tokens_issued_audit(
            caller.to_log(), decision.rule.name, [(i.issuer, i.audit_members()) for i in issued]
        )
        return [_token_of(outcomes[i]) for i in range(len(items))]

    def issuer_for(self, request: TokenRequest, credentials: CloudflareCredentials) -> TokenIssuer:
        """The signing mode decides; in `auto`, any key at hand means local signing."""
        mode = self.settings.signing_mode
        has_key = request.signing_key is not None or credentials.signing_key is not None
        return self.local if mode == "local" or (mode == "auto" and has_key) else self.api

    def _mint_admitted(
        self, decision: Decision, admitted: list[Admitted], limits: CallLimits
    ) -> dict[int, IssuedToken | Exception]:
        """Local items here, one by one; Cloudflare's, within the caller's part of the share, in a
        pool of `upstream_concurrency` threads."""
        credentials = self.credentials.get()
        planned = [
            _Planned(a.index, a.request, a.account_id, self.issuer_for(a.request, credentials)) for a in admitted
        ]
        remote = [item for item in planned if item.issuer.remote]
        spent = self.authorization.spend_cloudflare_share(decision, len(remote))
        results: dict[int, IssuedToken | Exception] = {
            item.index: quota_spent(CLOUDFLARE_SHARE, None, spent.retry_after) for item in remote[spent.granted :]
        }
        results |= {item.index: self._item(item, credentials, limits) for item in planned if not item.issuer.remote}
        if spent.granted:
            with ThreadPoolExecutor(max_workers=min(self.settings.upstream_concurrency, spent.granted)) as pool:
                calls = pool.map(
                    lambda item: (item.index, self._item(item, credentials, limits)), remote[: spent.granted]
                )
                results |= dict(calls)
        return results

    def _item(self, item: _Planned, credentials: CloudflareCredentials, limits: CallLimits) -> IssuedToken | Exception:
        """One item's token, or the exception that stopped it."""
        if limits.halt is not None and limits.halt.tripped:
            return RateLimited(
                "not sent: an earlier item hit Cloudflare's rate limit", retry_after=limits.halt.retry_after
            )
        try:
            token = self._mint_one(item.request, item.account_id, item.issuer, credentials, limits)
        except Exception as exc:  # one item's failure, even an unexpected one, is that item's
            return exc
        return IssuedToken(token, item.request, item.issuer.name)

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
        urls = signed_urls(self.settings.customer_code, request.downloadable)
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


@dataclass(frozen=True)
class IssuedToken:
    """A token with what the audit log says of it."""

    token: SignedToken
    request: TokenRequest
    issuer: str

    def audit_members(self) -> str:
        """Never the token itself: the video, exp, downloadable, the access rules' digest, the issuer."""
        return f'{self.request.audit_members()},"issuer":"{self.issuer}"'


def audited(
    error: StreamTokenError, caller: Caller, rule: str | None = None, video: str | None = None
) -> StreamTokenError:
    """`error`, carrying who was refused under which rule for which video (its log line says so)."""
    error.audit = {"caller": caller.to_log(), "rule": rule, "video_id": video}
    return error


def _video_of(item: BatchItem) -> str | None:
    identifier = None if isinstance(item, InvalidRequest) else item.identifier
    return identifier.lower() if is_cloudflare_id(identifier) else None


def _token_of(outcome: IssuedToken | Exception) -> SignedToken | Exception:
    return outcome.token if isinstance(outcome, IssuedToken) else outcome
