"""The two token issuers, side by side: Cloudflare's API, and local signing with a Stream signing key.

Both take the same validated `TokenRequest` and return the token text (they are the minting
service's `TokenIssuer` port); the service makes the same answer of it whichever one signed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..domain.call_limits import CallBudget, CallLimits
from ..domain.credentials import CloudflareCredentials
from ..domain.errors import INVALID_VALUE, ConfigurationError, ErrorDetail, InvalidRequest
from ..domain.model import TokenRequest

if TYPE_CHECKING:
    from ..domain.signing import ParsedSigningKey
    from .cloudflare_api import CloudflareStreamApi


@dataclass(frozen=True)
class ApiConnection:
    """How this container reaches Cloudflare's API."""

    base_url: str
    connect_timeout: float
    read_timeout: float
    max_retries: int
    pool_size: int
    """Connections kept alive for concurrent calls (a batch's concurrency)."""


@dataclass(frozen=True)
class CallShare:
    """The deployment's share of Cloudflare's rate limit: counted in `table` (when named), else this
    container's static split of `per_second`; while the table fails, the static split if `bounded`
    (reserved concurrency caps the containers), else no call at all."""

    table: str
    calls_per_5_minutes: int
    per_second: float
    bounded: bool = False


def connect(connection: ApiConnection, share: CallShare | None) -> CloudflareStreamApi:
    """A client of Cloudflare's API (its keep-alive session), spending `share` when given."""
    from .budget_table import shared_call_budget  # noqa: PLC0415 - requests and the budget only when calling Cloudflare
    from .cloudflare_api import CloudflareStreamApi  # noqa: PLC0415

    calls = None
    if share is not None:
        static = CallBudget(share.per_second, burst=share.per_second * 60)
        calls = shared_call_budget(share.table, share.calls_per_5_minutes, static, bounded=share.bounded)
    return CloudflareStreamApi(
        connection.base_url,
        connect_timeout=connection.connect_timeout,
        read_timeout=connection.read_timeout,
        max_retries=connection.max_retries,
        pool_size=connection.pool_size,
        calls=calls,
    )


class CloudflareApiIssuer:
    """Asks Cloudflare's `POST /accounts/{account_id}/stream/{identifier}/token` for the token."""

    name = "api"
    remote = True

    def __init__(self, connection: ApiConnection, share: CallShare) -> None:
        self.connection = connection
        self.share = share
        self._client: CloudflareStreamApi | None = None
        self._lock = threading.Lock()

    def client(self) -> CloudflareStreamApi:
        """The container's client, built on first use (it loads `requests`, which a container that
        only signs locally never needs), once whatever the concurrency."""
        with self._lock:
            if self._client is None:
                self._client = connect(self.connection, self.share)
            return self._client

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, limits: CallLimits) -> str:
        return self.client().create_token(
            credentials.account_id, request.video_id, self.body(request), credentials.auth_headers(), limits
        )

    @staticmethod
    def body(request: TokenRequest) -> dict[str, Any]:
        """The JSON body Cloudflare receives: the token claims, plus the caller's key if any."""
        body = request.claims()
        if request.signing_key is not None:
            body["id"] = request.signing_key.id
            body["pem"] = request.signing_key.pem
        return body


class LocalIssuer:
    """Signs tokens here, with the caller's key when the request carries one, else the secret's:
    no API call, no rate limit."""

    name = "local"
    remote = False

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, limits: CallLimits) -> str:
        from ..domain.signing import stream_token  # noqa: PLC0415 - cryptography only in a container that signs here

        return stream_token(request, self.key_for(request, credentials))

    def key_for(self, request: TokenRequest, credentials: CloudflareCredentials) -> ParsedSigningKey:
        if request.signing_key is not None:
            from ..domain.signing import KeyMaterialError, caller_key  # noqa: PLC0415

            try:
                return caller_key(request.signing_key.id, request.signing_key.pem)
            except KeyMaterialError as exc:
                raise InvalidRequest([ErrorDetail(INVALID_VALUE, f"pem is unusable: {exc}", "/pem")]) from None
        if credentials.signing_key is None:
            raise ConfigurationError("local signing needs a signing key in the Cloudflare secret")
        return credentials.signing_key
