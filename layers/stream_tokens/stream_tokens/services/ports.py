"""The services' ports: what minting and rotation need from the outside world.

The adapters implement them (structurally: they need not import this module); unit tests hand the
services in-memory fakes of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only
    from ..domain.call_limits import CallLimits
    from ..domain.callers import Caller
    from ..domain.credentials import CloudflareCredentials
    from ..domain.model import NewSigningKey, TokenRequest
    from ..domain.policy import Policy, Quota, Spent
    from ..domain.secret_stages import SecretState


class CredentialsSource(Protocol):
    def get(self, *, refresh: bool = False) -> CloudflareCredentials:
        """The current credentials; `refresh` re-reads them at once (after Cloudflare refused them)."""
        ...


class TokenIssuer(Protocol):
    name: str
    """Short name used in logs and as the Issuer metric dimension."""
    remote: bool
    """Whether issuing calls Cloudflare (its duration is then the upstream latency)."""

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, limits: CallLimits) -> str:
        """Sign a token for `request` within `limits` (deadline, the batch's rate-limit halt)."""
        ...


class SecretVersionStore(Protocol):
    def describe(self, secret_id: str) -> SecretState: ...
    def read(
        self, secret_id: str, *, version_id: str | None = None, stage: str | None = None
    ) -> dict[str, Any] | None: ...
    def put_pending(self, secret_id: str, version_id: str, value: dict[str, Any]) -> None: ...
    def promote(self, secret_id: str, version_id: str, current: str | None) -> None: ...
    def created_since(self, secret_id: str, version_id: str) -> list[str]: ...


class SigningKeysApi(Protocol):
    """Cloudflare's Stream signing keys endpoints, as the rotation uses them."""

    connect_timeout: float
    read_timeout: float

    def create_signing_key(self, account_id: str, auth: dict[str, str], deadline: float) -> NewSigningKey: ...
    def list_signing_keys(self, account_id: str, auth: dict[str, str], deadline: float) -> set[str]: ...
    def delete_signing_key(self, account_id: str, key_id: str, auth: dict[str, str], deadline: float) -> bool: ...


class PolicySource(Protocol):
    def current(self) -> Policy:
        """The minting policy in force (cached; a document that fails its schema never replaces a good one)."""
        ...


class Entitlements(Protocol):
    def entitled(self, caller: Caller, videos: Sequence[str], deadline: float) -> set[str]:
        """Which of `videos` (ids, lowercase) `caller` may have tokens for."""
        ...


class QuotaCounter(Protocol):
    def take(self, key: str, count: int, quota: Quota) -> Spent:
        """Spend up to `count` tokens of `key`'s quota, across containers."""
        ...
