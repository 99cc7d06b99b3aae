"""Minting: validate, load credentials, have the issuer sign, return the token with its URLs.

Knows nothing of API Gateway or Lambda: entry points hand it a video id, the request fields, the
account the caller named (if any) and a deadline, and get a `SignedToken` or a `StreamTokenError`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from . import observability
from .call_budget import halt_on_rate_limit
from .config import Settings
from .credentials import CloudflareCredentials
from .errors import (
    AccountMismatch,
    ConfigurationError,
    ErrorDetail,
    InvalidRequest,
    RateLimited,
    StreamTokenError,
    UpstreamAuthRejected,
    UpstreamCredentialsRejected,
)
from .issuers import TokenIssuer
from .model import SignedToken, TokenRequest
from .urls import signed_urls
from .validation import checked_request, request_item


class CredentialsSource(Protocol):
    def get(self, *, refresh: bool = False) -> CloudflareCredentials: ...


class TokenService:
    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource,
        api: TokenIssuer,
        local: Callable[[], TokenIssuer],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`api` calls Cloudflare; `local` gives the local signer (built on first use: it imports
        the crypto libraries, which an API-only container never needs)."""
        self.settings = settings
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
        return checked_request(
            video_id,
            read_fields,
            account_id=account_id,
            now=int(self.clock()),
            max_lifetime=self.settings.max_token_lifetime,
        )

    def validate_item(self, item: object, *, at: str = "") -> tuple[TokenRequest, str | None]:
        """One `{"identifier", "account_id"?, <token fields>}` object; error pointers rooted at `at`."""
        return request_item(item, at=at, now=int(self.clock()), max_lifetime=self.settings.max_token_lifetime)

    def mint_many(
        self, items: Sequence[object], *, deadline: float, at: str = ""
    ) -> list[SignedToken | StreamTokenError]:
        """A token per item, in order; a failed item is its error and does not fail the others.

        Every item is validated first (no I/O). Items that go to Cloudflare's API are sent at most
        `upstream_concurrency` at a time; once Cloudflare answers 429 to any of them, no retry is
        made and the items not yet sent are marked rate limited instead of being sent. Each failure
        is logged and counted once; a configuration error fails the whole batch.
        """
        outcomes: list[SignedToken | StreamTokenError | None] = [None] * len(items)
        accepted: list[tuple[int, TokenRequest, str | None]] = []
        for i, item in enumerate(items):
            try:
                accepted.append((i, *self.validate_item(item, at=f"{at}/{i}")))
            except InvalidRequest as exc:
                outcomes[i] = observability.refused(exc)
        issued: Counter[str] = Counter()
        minted: list[dict[str, Any]] = []
        if accepted:
            credentials = self.credentials.get()
            halt = threading.Event()
            limited: list[RateLimited] = []

            def one(entry: tuple[int, TokenRequest, str | None]) -> tuple[int, SignedToken | StreamTokenError]:
                i, request, account = entry
                if halt.is_set():
                    retry_after = limited[0].retry_after if limited else None
                    skipped = RateLimited(
                        "not sent: an earlier item hit Cloudflare's rate limit", retry_after=retry_after
                    )
                    return i, observability.refused(skipped)
                try:
                    token, issuer = self._mint_one(request, account, deadline, credentials)
                    issued[issuer] += 1
                    minted.append(_log_fields(token, issuer))
                    return i, token
                except ConfigurationError as exc:
                    return i, exc  # raised for the whole batch below, and reported there
                except RateLimited as exc:
                    limited.append(exc)
                    halt.set()
                    return i, observability.refused(exc)
                except Exception as exc:  # one item's failure, even an unexpected one, is that item's
                    return i, observability.refused(exc)

            def one_remote(entry: tuple[int, TokenRequest, str | None]) -> tuple[int, SignedToken | StreamTokenError]:
                with halt_on_rate_limit(halt):  # in the pool's thread, where the call is made
                    return one(entry)

            remote = [entry for entry in accepted if self.issuer_for(entry[1], credentials).remote]
            sent = {entry[0] for entry in remote}
            results = [one(entry) for entry in accepted if entry[0] not in sent]
            if remote:
                with ThreadPoolExecutor(max_workers=min(self.settings.upstream_concurrency, len(remote))) as pool:
                    results += pool.map(one_remote, remote)
            for i, result in results:
                outcomes[i] = result
        if minted:  # one line for the batch: a line per token would cost more than signing it
            observability.logger.info("tokens issued", extra={"count": len(minted), "tokens": minted})
        for issuer, count in issued.items():
            observability.tokens_issued(issuer, count)
        final = [outcome for outcome in outcomes if outcome is not None]
        misconfigured = [o for o in final if isinstance(o, ConfigurationError)]
        if misconfigured:
            raise misconfigured[0]
        return final

    def mint(self, request: TokenRequest, *, deadline: float, account_id: str | None = None) -> SignedToken:
        """Sign `request`. `account_id`, when the caller named one, must be the configured account."""
        token, issuer = self._mint_one(request, account_id, deadline, self.credentials.get())
        observability.logger.info("token issued", extra=_log_fields(token, issuer))
        observability.tokens_issued(issuer, 1)
        return token

    def _mint_one(
        self, request: TokenRequest, account_id: str | None, deadline: float, credentials: CloudflareCredentials
    ) -> tuple[SignedToken, str]:
        """The token and the name of the issuer that signed it (logs and metrics are the caller's)."""
        if account_id is not None and account_id.lower() != credentials.account_id:
            message = "account_id is not the account this service mints for"
            raise AccountMismatch(message, [ErrorDetail(AccountMismatch.code, message, "/account_id")])
        issuer = self.issuer_for(request, credentials)
        started = time.perf_counter()
        try:
            token = self._issue(issuer, request, credentials, deadline)
        finally:
            if issuer.remote:
                observability.upstream_latency((time.perf_counter() - started) * 1000)
        signed = SignedToken(
            token=token,
            video_id=request.video_id,
            expires_at=request.exp,
            urls=signed_urls(token, self.settings.customer_code, request.downloadable),
        )
        return signed, issuer.name

    def issuer_for(self, request: TokenRequest, credentials: CloudflareCredentials) -> TokenIssuer:
        """The SIGNING_MODE decides; in `auto`, any key at hand means local signing."""
        mode = self.settings.signing_mode
        has_key = request.signing_key is not None or credentials.signing_key is not None
        return self.local() if mode == "local" or (mode == "auto" and has_key) else self.api

    def _issue(
        self, issuer: TokenIssuer, request: TokenRequest, credentials: CloudflareCredentials, deadline: float
    ) -> str:
        """Issue; when Cloudflare refuses the credentials, re-read the secret once and try again."""
        try:
            return issuer.issue(request, credentials, deadline)
        except UpstreamAuthRejected:
            observability.logger.warning("Cloudflare refused the credentials; re-reading the secret once")
        try:
            return issuer.issue(request, self.credentials.get(refresh=True), deadline)
        except UpstreamAuthRejected as again:
            raise UpstreamCredentialsRejected(
                f"upstream credentials rejected: Cloudflare answered HTTP {again.args[0]} with the stored credentials"
            ) from None


def _log_fields(token: SignedToken, issuer: str) -> dict[str, Any]:
    """What the log says of an issued token: never the token itself."""
    return {"video_id": token.video_id, "issuer": issuer, "expires_at": token.expires_at}
