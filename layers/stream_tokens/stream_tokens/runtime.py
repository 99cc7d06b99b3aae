"""The container's objects, built once on first use and reused by every invocation."""

from __future__ import annotations

import time
from functools import cache, partial
from typing import TYPE_CHECKING, Protocol

from .call_budget import CallBudget
from .config import RotationSettings, Settings
from .credentials import SecretsManagerCredentials
from .issuers import CloudflareApiIssuer, TokenIssuer
from .service import TokenService

if TYPE_CHECKING:
    from .cloudflare_api import CloudflareStreamApi
    from .rotation import SigningKeyRotation

DEADLINE_MARGIN_MS = 250  # time kept back to answer after the last upstream attempt


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@cache
def token_service() -> TokenService:
    settings = Settings.from_env()
    credentials = SecretsManagerCredentials(
        settings.secret_id, settings.secret_max_age, with_signing_key=settings.signing_mode != "api"
    )
    api = partial(cloudflare_api, settings, pool_size=settings.upstream_concurrency, metered=True)
    return TokenService(settings, credentials, CloudflareApiIssuer(api), local_signer)


@cache
def cloudflare_api(settings: Settings, *, pool_size: int, metered: bool) -> CloudflareStreamApi:
    """An HTTP client of the container (its keep-alive session), built on first use. A metered
    one spends the deployment's share of Cloudflare's rate limit (the budget table, CallBudget if it fails)."""
    from .adapters.budget_table import shared_call_budget  # noqa: PLC0415
    from .cloudflare_api import CloudflareStreamApi  # noqa: PLC0415 - requests only when calling Cloudflare

    per_second = settings.upstream_calls_per_second
    return CloudflareStreamApi(
        settings.cloudflare_base_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_retries=settings.max_retries,
        pool_size=pool_size,
        calls=shared_call_budget(settings, CallBudget(per_second, burst=per_second * 60)) if metered else None,
    )


@cache
def local_signer() -> TokenIssuer:
    from .signing import LocalSigner  # noqa: PLC0415 - PyJWT and cryptography only when signing here

    return LocalSigner()


@cache
def signing_key_rotation() -> SigningKeyRotation:
    """The rotation function's service. It makes a handful of calls per rotation, outside the
    minting functions' rate share."""
    from .rotation import SigningKeyRotation  # noqa: PLC0415 - only the rotation function needs it
    from .secret_versions import SecretVersions  # noqa: PLC0415

    settings = RotationSettings.from_env()
    return SigningKeyRotation(settings, SecretVersions(), cloudflare_api(settings.base, pool_size=1, metered=False))


def deadline(context: LambdaContextLike) -> float:
    """The time.monotonic() by which upstream work must be over for this invocation."""
    return time.monotonic() + (context.get_remaining_time_in_millis() - DEADLINE_MARGIN_MS) / 1000


def reset() -> None:
    """Forget the container's objects (tests: a fresh container)."""
    token_service.cache_clear()
    cloudflare_api.cache_clear()
    local_signer.cache_clear()
    signing_key_rotation.cache_clear()
