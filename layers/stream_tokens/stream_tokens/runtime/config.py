"""The functions' configuration: read from the environment once, into one typed object.

The template sets every variable; each default is stated once, on its field below, and is the one
`make run` uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..adapters.issuers import ApiConnection, CallShare
from ..domain.errors import ConfigurationError
from ..domain.model import DEFAULT_LIFETIME, MAX_LIFETIME
from ..domain.policy import Policy, Quota
from ..domain.policy_document import Ceilings, built_in_policy
from ..services.minting import MintingSettings

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
SIGNING_MODES = ("auto", "local", "api")
FUNCTIONS_SHARING_THE_BUDGET = 2  # the HTTP and the direct function call Cloudflare with one account
GRACE_MARGIN = 3600  # the template's floor for the grace period is the 24 h token lifetime plus this
_NUMBERS = {  # field: (environment variable, lowest, highest)
    "max_token_lifetime": ("MAX_TOKEN_LIFETIME_SECONDS", 60, MAX_LIFETIME),
    "secret_max_age": ("SECRET_MAX_AGE_SECONDS", 0, 86400),
    "connect_timeout": ("UPSTREAM_CONNECT_TIMEOUT_SECONDS", 0.1, 30),
    "read_timeout": ("UPSTREAM_READ_TIMEOUT_SECONDS", 0.1, 30),
    "max_retries": ("UPSTREAM_MAX_RETRIES", 0, 10),
    "batch_max_items": ("BATCH_MAX_ITEMS", 1, 1000),
    "upstream_concurrency": ("UPSTREAM_CONCURRENCY", 1, 32),
    "calls_per_5_minutes": ("UPSTREAM_CALLS_PER_5_MINUTES", 1, 10**9),
    "budget_containers": ("UPSTREAM_BUDGET_CONTAINERS", 0, 10000),
    "policy_max_age": ("POLICY_MAX_AGE_SECONDS", 0, 3600),
    "jwt_quota_tokens": ("JWT_QUOTA_TOKENS", 0, 10**9),
    "jwt_quota_window": ("JWT_QUOTA_WINDOW_SECONDS", 1, 86400),
    "caller_share_percent": ("CALLER_CLOUDFLARE_SHARE_PERCENT", 1, 100),
}
AUTH_MODES = ("IAM", "JWT", "NONE")


@dataclass(frozen=True)
class Settings:
    secret_id: str
    """ARN (or name) of the Secrets Manager secret holding the Cloudflare credentials."""
    customer_code: str
    """The CODE of the account's customer-CODE.cloudflarestream.com playback subdomain."""
    signing_key_secret_id: str = ""
    """ARN of the secret holding the Stream signing key alone ("": the key, if any, is in secret_id's)."""
    max_token_lifetime: int = DEFAULT_LIFETIME
    """Ceiling on exp - now, in seconds, whatever the policy says; at most Cloudflare's 24 h."""
    secret_max_age: int = 300
    """Seconds a read secret is reused before Secrets Manager is asked again."""
    cloudflare_base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = 2.0
    read_timeout: float = 3.0
    max_retries: int = 2
    batch_max_items: int = 100
    """Most tokens one batch (POST /videos/tokens, or a list sent to the direct function) may ask for."""
    upstream_concurrency: int = 4
    """Most calls to Cloudflare a batch makes at once."""
    calls_per_5_minutes: float = 600.0
    """The deployment's share of Cloudflare's API rate limit (calls per 5 minutes, retries included)."""
    budget_containers: int = 1
    """Containers per function the share is split between (the reserved concurrency; 0: none, counts
    as 1): the static split, alone or, when reserved (> 0), while the budget table fails."""
    budget_table: str = ""
    """DynamoDB table counting the whole deployment's calls to Cloudflare ("": the static split alone)."""
    signing_mode: str = "auto"
    """auto: sign locally when a key is at hand (the caller's or the secret's), else call the API;
    local: always sign locally; api: always call Cloudflare's API (forwarding a caller's key)."""
    auth_mode: str = "IAM"
    """How API Gateway authorizes callers (the AuthMode parameter): the built-in policy's callers."""
    policy_parameter: str = ""
    """SSM parameter holding the policy document ("": the built-in policy, from the settings below)."""
    policy_max_age: int = 60
    """Seconds a read policy is used before the parameter is read again: the bound on a change's delay."""
    entitlements_claim: str = "stream_videos"
    """The JWT claim listing the caller's video ids."""
    jwt_any_video: bool = False
    """The built-in policy lets JWT callers mint any video (not only those their claim lists)."""
    jwt_quota_tokens: int = 120
    """The built-in policy's quota for each JWT caller: tokens per window (0: none)."""
    jwt_quota_window: int = 300
    entitlements_table: str = ""
    """DynamoDB table of (caller or group, video) entitlements, for rules with videos "table"."""
    entitlement_function: str = ""
    """The operator's Lambda that approves videos, for rules with videos "function"."""
    quota_table: str = ""
    """DynamoDB table counting quotas across containers ("": the budget table)."""
    caller_share_percent: int = 25
    """The most of the deployment's Cloudflare share one caller may spend, in percent."""

    @property
    def upstream_calls_per_second(self) -> float:
        """This container's share of Cloudflare's API rate limit, in calls per second."""
        return self.calls_per_5_minutes / 300 / FUNCTIONS_SHARING_THE_BUDGET / max(1, self.budget_containers)

    @property
    def minting(self) -> MintingSettings:
        return MintingSettings(
            customer_code=self.customer_code,
            signing_mode=self.signing_mode,
            upstream_concurrency=self.upstream_concurrency,
            batch_max_items=self.batch_max_items,
        )

    def api_connection(self, pool_size: int) -> ApiConnection:
        return ApiConnection(
            self.cloudflare_base_url, self.connect_timeout, self.read_timeout, self.max_retries, pool_size
        )

    @property
    def call_share(self) -> CallShare:
        return CallShare(
            self.budget_table,
            int(self.calls_per_5_minutes),
            self.upstream_calls_per_second,
            bounded=self.budget_containers > 0,  # reserved concurrency: the static split has a fleet-wide bound
        )

    @property
    def ceilings(self) -> Ceilings:
        return Ceilings(self.max_token_lifetime, self.batch_max_items, self.entitlements_claim)

    @property
    def built_in_policy(self) -> Policy:
        quota = Quota(self.jwt_quota_tokens, self.jwt_quota_window) if self.jwt_quota_tokens else None
        return built_in_policy(self.auth_mode, self.ceilings, jwt_any_video=self.jwt_any_video, jwt_quota=quota)

    @property
    def caller_share(self) -> int | None:
        """The most calls to Cloudflare one caller may make in 5 minutes (None: no part of its own,
        in local signing or when a caller may have the whole share, which the budget already bounds)."""
        if self.signing_mode == "local" or self.caller_share_percent >= 100:
            return None
        return max(1, int(self.calls_per_5_minutes * self.caller_share_percent / 100))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        defaults = _defaults(cls)
        numbers = {name: _number(env, defaults[name], *limits) for name, limits in _NUMBERS.items()}
        return cls(
            secret_id=_secret_id(env),
            signing_key_secret_id=env.get("SIGNING_KEY_SECRET_ARN", ""),
            customer_code=_customer_code(env),
            cloudflare_base_url=_base_url(env),
            signing_mode=_choice(env, "SIGNING_MODE", SIGNING_MODES, defaults["signing_mode"]),
            budget_table=env.get("UPSTREAM_BUDGET_TABLE", ""),
            auth_mode=_choice(env, "AUTH_MODE", AUTH_MODES, defaults["auth_mode"]),
            policy_parameter=env.get("POLICY_PARAMETER", ""),
            entitlements_claim=env.get("ENTITLEMENTS_CLAIM", "") or defaults["entitlements_claim"],
            jwt_any_video=_choice(env, "JWT_CALLERS_MINT_ANY_VIDEO", ("false", "true"), "false") == "true",
            entitlements_table=env.get("ENTITLEMENTS_TABLE", ""),
            entitlement_function=env.get("ENTITLEMENT_FUNCTION", ""),
            quota_table=env.get("QUOTA_TABLE", ""),
            **numbers,
        )


def _defaults(cls: type) -> dict[str, Any]:
    return {field.name: field.default for field in fields(cls)}


def _number(env: Mapping[str, str], default: Any, variable: str, low: float, high: float) -> Any:
    """A numeric variable, of its field's type (int or float), within [low, high]."""
    raw = env.get(variable, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"environment variable {variable} is not a number") from None
    if not low <= value <= high:
        raise ConfigurationError(f"environment variable {variable} must be between {low} and {high}")
    return type(default)(value)


def _secret_id(env: Mapping[str, str]) -> str:
    secret_id = env.get("CLOUDFLARE_SECRET_ARN", "")
    if not secret_id:
        raise ConfigurationError("environment variable CLOUDFLARE_SECRET_ARN is not set")
    return secret_id


def _customer_code(env: Mapping[str, str]) -> str:
    customer_code = env.get("STREAM_CUSTOMER_CODE", "")
    if not re.fullmatch(r"[a-z0-9]{1,63}", customer_code):
        raise ConfigurationError(
            "environment variable STREAM_CUSTOMER_CODE must be the lowercase CODE of customer-CODE.cloudflarestream.com"
        )
    return customer_code


def _base_url(env: Mapping[str, str]) -> str:
    base_url = env.get("CLOUDFLARE_BASE_URL", "") or DEFAULT_BASE_URL
    if not re.match(r"https?://", base_url):
        raise ConfigurationError("environment variable CLOUDFLARE_BASE_URL must be an http(s) URL")
    return base_url.rstrip("/")


def _choice(env: Mapping[str, str], variable: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(variable, "") or default
    if value not in choices:
        raise ConfigurationError(f"environment variable {variable} must be one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class RotationSettings:
    """The rotation function's configuration: the common settings plus the grace period."""

    base: Settings
    retired_key_grace: int = MAX_LIFETIME + GRACE_MARGIN
    """Seconds a retired signing key is kept before it is deleted (which revokes its tokens)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RotationSettings:
        base = Settings.from_env(env)
        raw = env.get("RETIRED_KEY_GRACE_SECONDS", "")
        try:
            grace = int(raw) if raw else _defaults(cls)["retired_key_grace"]
        except ValueError:
            raise ConfigurationError("environment variable RETIRED_KEY_GRACE_SECONDS is not an integer") from None
        # A token lives up to max_token_lifetime, and a warm container may sign with the old key for
        # secret_max_age after the rotation: a shorter grace would revoke live tokens.
        floor = base.max_token_lifetime + base.secret_max_age
        if grace < floor:
            raise ConfigurationError(
                f"environment variable RETIRED_KEY_GRACE_SECONDS must be at least {floor} "
                "(MAX_TOKEN_LIFETIME_SECONDS + SECRET_MAX_AGE_SECONDS)"
            )
        return cls(base, grace)
