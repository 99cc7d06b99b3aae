"""The container's objects, built once on first use and reused by every invocation."""

from __future__ import annotations

import time
from functools import cache, partial
from typing import TYPE_CHECKING, Protocol

from .call_budget import CallBudget
from .config import Settings
from .credentials import SecretsManagerCredentials
from .issuers import CloudflareApiIssuer, TokenIssuer
from .service import TokenService

if TYPE_CHECKING:
    from .cloudflare_api import CloudflareStreamApi

DEADLINE_MARGIN_MS = 250  # time kept back to answer after the last upstream attempt


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@cache
def token_service() -> TokenService:
    settings = Settings.from_env()
    credentials = SecretsManagerCredentials(
        settings.secret_id, settings.secret_max_age, with_signing_key=settings.signing_mode != "api"
    )
    return TokenService(settings, credentials, CloudflareApiIssuer(partial(cloudflare_api, settings)), local_signer)


@cache
def cloudflare_api(settings: Settings) -> CloudflareStreamApi:
    """The one HTTP client of the container (its keep-alive session), built on first use."""
    from .cloudflare_api import CloudflareStreamApi  # noqa: PLC0415 - requests only when calling Cloudflare

    return CloudflareStreamApi(
        settings.cloudflare_base_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_retries=settings.max_retries,
        pool_size=settings.upstream_concurrency,
        calls=CallBudget(settings.upstream_calls_per_second, burst=settings.upstream_calls_per_second * 60),
    )


@cache
def local_signer() -> TokenIssuer:
    from .signing import LocalSigner  # noqa: PLC0415 - PyJWT and cryptography only when signing here

    return LocalSigner()


def deadline(context: LambdaContextLike) -> float:
    """The time.monotonic() by which upstream work must be over for this invocation."""
    return time.monotonic() + (context.get_remaining_time_in_millis() - DEADLINE_MARGIN_MS) / 1000


def reset() -> None:
    """Forget the container's objects (tests: a fresh container)."""
    token_service.cache_clear()
    cloudflare_api.cache_clear()
    local_signer.cache_clear()
