"""Token issuers: the one seam between "what token" and "who signs it".

Every issuer takes the same validated `TokenRequest` and returns the token text; the service
turns that into the same answer whichever issuer signed it. The Cloudflare API is the first
implementation; local signing with a Stream signing key is the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .credentials import CloudflareCredentials
from .model import TokenRequest

if TYPE_CHECKING:
    from .cloudflare_api import CloudflareStreamApi


class TokenIssuer(Protocol):
    name: str
    """Short name used in logs and as the Issuer metric dimension."""
    remote: bool
    """Whether issuing calls Cloudflare (its duration is then the upstream latency)."""

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, deadline: float) -> str:
        """Sign a token for `request`, finishing before `deadline` (time.monotonic())."""
        ...


class CloudflareApiIssuer:
    """Asks Cloudflare's `POST /accounts/{account_id}/stream/{identifier}/token` for the token."""

    name = "api"
    remote = True

    def __init__(self, api: Callable[[], CloudflareStreamApi]) -> None:
        """`api` gives the client, built on first use (it loads `requests`, which a container that
        only signs locally never needs)."""
        self.api = api

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, deadline: float) -> str:
        return self.api().create_token(
            credentials.account_id,
            request.video_id,
            self.body(request),
            credentials.auth_headers(),
            deadline,
        )

    @staticmethod
    def body(request: TokenRequest) -> dict[str, Any]:
        """The JSON body Cloudflare receives: the token claims, plus the caller's key if any."""
        body = request.claims()
        if request.signing_key is not None:
            body["id"] = request.signing_key.id
            body["pem"] = request.signing_key.pem
        return body
