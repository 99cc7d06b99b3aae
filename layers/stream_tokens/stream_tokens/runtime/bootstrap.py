"""The composition root: the container's objects, each built once on first use and reused by every
invocation.

"Once" holds under concurrency too (a batch's worker threads may ask for the HTTP client at the
same moment on a cold container): every builder below runs under one lock, and `functools.cache`
then hands out the object it built. The lock is re-entrant because builders call each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cache, partial, wraps
from typing import TYPE_CHECKING, Protocol

from ..adapters.entitlements import EntitlementFunction, EntitlementsTable
from ..adapters.issuers import CloudflareApiIssuer, LocalIssuer, connect
from ..adapters.policy_parameter import PolicyParameter
from ..adapters.quota_table import QuotaTable
from ..adapters.quotas import ContainerQuotas, LeasedQuotas
from ..adapters.secrets_manager import KeyAndApiCredentials, SecretsManagerCredentials
from ..domain.credentials import CloudflareCredentials
from ..domain.policy import FUNCTION, TABLE
from ..services.authorization import Authorization, FixedPolicy
from ..services.minting import TokenService
from ..services.ports import CredentialsSource, Entitlements, PolicySource, QuotaCounter
from .config import RotationSettings, Settings

if TYPE_CHECKING:
    from ..services.rotation import SigningKeyRotation

DEADLINE_MARGIN_MS = 250  # time kept back to answer after the last upstream attempt
_building = threading.RLock()
_builders: list[Callable[..., object]] = []


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _once[**P, T](build: Callable[P, T]) -> Callable[P, T]:
    """`build` run at most once per distinct arguments, whatever the concurrency."""
    cached = cache(build)
    _builders.append(cached)

    @wraps(build)
    def built(*args: P.args, **kwargs: P.kwargs) -> T:
        with _building:
            return cached(*args, **kwargs)  # type: ignore[arg-type]  # the builders' arguments are hashable

    return built


@_once
def token_service() -> TokenService:
    settings = Settings.from_env()
    credentials = credentials_source(settings)
    api = CloudflareApiIssuer(settings.api_connection(settings.upstream_concurrency), settings.call_share)
    return TokenService(
        settings.minting, credentials=credentials, api=api, local=LocalIssuer(), authorization=authorization(settings)
    )


def credentials_source(settings: Settings) -> CredentialsSource:
    """The secrets minting reads. One secret: all of it (its signing key too, except in `api` mode).
    With a signing-key secret of its own: `local` reads that one only (never the API token), `api`
    the Cloudflare secret only, `auto` both."""
    mode, max_age = settings.signing_mode, settings.secret_max_age
    api_only = partial(CloudflareCredentials.from_secret, with_signing_key=False)
    if not settings.signing_key_secret_id:
        whole = CloudflareCredentials.from_secret
        keyed = mode != "api"
        return SecretsManagerCredentials(
            settings.secret_id, max_age, parse=whole if keyed else api_only, holds_key=keyed
        )
    api = SecretsManagerCredentials(settings.secret_id, max_age, parse=api_only)
    if mode == "api":
        return api
    key = SecretsManagerCredentials(
        settings.signing_key_secret_id, max_age, parse=CloudflareCredentials.from_key_secret, holds_key=True
    )
    return key if mode == "local" else KeyAndApiCredentials(api, key)


def authorization(settings: Settings) -> Authorization:
    """The policy (the parameter's, else the built-in one), the entitlement sources deployed, the quotas."""
    policies: PolicySource = FixedPolicy(settings.built_in_policy)
    if settings.policy_parameter:
        policies = PolicyParameter(settings.policy_parameter, settings.policy_max_age, settings.ceilings)
    sources: dict[str, Entitlements] = {}
    if settings.entitlements_table:
        sources[TABLE] = EntitlementsTable(settings.entitlements_table)
    if settings.entitlement_function:
        sources[FUNCTION] = EntitlementFunction(settings.entitlement_function)
    table = settings.quota_table or settings.budget_table
    quotas: QuotaCounter = LeasedQuotas(QuotaTable(table)) if table else ContainerQuotas()
    return Authorization(policies, sources, quotas, settings.caller_share)


@_once
def signing_key_rotation() -> SigningKeyRotation:
    """The rotation function's service. It makes a handful of calls per rotation, outside the
    minting functions' rate share."""
    from ..adapters.secret_versions import SecretVersions  # noqa: PLC0415 - only the rotation function needs it
    from ..services.rotation import SigningKeyRotation  # noqa: PLC0415

    settings = RotationSettings.from_env()
    api = connect(settings.base.api_connection(pool_size=1), share=None)
    return SigningKeyRotation(settings.retired_key_grace, SecretVersions(), api, api_secret=settings.base.secret_id)


def deadline(context: LambdaContextLike) -> float:
    """The time.monotonic() by which upstream work must be over for this invocation."""
    return time.monotonic() + (context.get_remaining_time_in_millis() - DEADLINE_MARGIN_MS) / 1000


def reset() -> None:
    """Forget the container's objects (tests: a fresh container)."""
    with _building:
        for builder in _builders:
            builder.cache_clear()  # type: ignore[attr-defined]
