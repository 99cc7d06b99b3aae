"""The function's configuration: read from the environment once, into one typed object.

The template sets every variable; the defaults here are the ones `make run` uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigurationError
from .model import MAX_LIFETIME

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
SIGNING_MODES = ("auto", "local", "api")
FUNCTIONS_SHARING_THE_BUDGET = 2  # the HTTP and the direct function call Cloudflare with one account


@dataclass(frozen=True)
class Settings:
    secret_id: str
    """ARN (or name) of the Secrets Manager secret holding the Cloudflare credentials."""
    customer_code: str
    """The CODE of the account's customer-CODE.cloudflarestream.com playback subdomain."""
    max_token_lifetime: int = MAX_LIFETIME
    """Ceiling on exp - now, in seconds; at most Cloudflare's 24 h."""
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
    upstream_calls_per_second: float = 1.0
    """This container's share of Cloudflare's API rate limit (calls per second, retries included):
    the static split, alone or when the budget table fails."""
    upstream_calls_per_5_minutes: int = 600
    """The deployment's share of Cloudflare's API rate limit, in any 5 minutes (retries included)."""
    budget_table: str = ""
    """DynamoDB table counting the deployment's calls to Cloudflare ("": the static split alone)."""
    signing_mode: str = "auto"
    """auto: sign locally when a key is at hand (the caller's or the secret's), else call the API;
    local: always sign locally; api: always call Cloudflare's API (forwarding a caller's key)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise ConfigurationError(f"environment variable {name} is not a number") from None
            if not low <= value <= high:
                raise ConfigurationError(f"environment variable {name} must be between {low} and {high}")
            return value

        secret_id = env.get("CLOUDFLARE_SECRET_ARN", "")
        if not secret_id:
            raise ConfigurationError("environment variable CLOUDFLARE_SECRET_ARN is not set")
        customer_code = env.get("STREAM_CUSTOMER_CODE", "")
        if not re.fullmatch(r"[a-z0-9]{1,63}", customer_code):
            raise ConfigurationError(
                "environment variable STREAM_CUSTOMER_CODE must be the lowercase CODE of "
                "customer-CODE.cloudflarestream.com"
            )
        base_url = env.get("CLOUDFLARE_BASE_URL", "") or DEFAULT_BASE_URL
        if not re.match(r"https?://", base_url):
            raise ConfigurationError("environment variable CLOUDFLARE_BASE_URL must be an http(s) URL")
        signing_mode = env.get("SIGNING_MODE", "") or "auto"
        if signing_mode not in SIGNING_MODES:
            raise ConfigurationError(f"environment variable SIGNING_MODE must be one of {', '.join(SIGNING_MODES)}")
        return cls(
            signing_mode=signing_mode,
            secret_id=secret_id,
            customer_code=customer_code,
            max_token_lifetime=int(number("MAX_TOKEN_LIFETIME_SECONDS", MAX_LIFETIME, 60, MAX_LIFETIME)),
            secret_max_age=int(number("SECRET_MAX_AGE_SECONDS", 300, 0, 86400)),
            cloudflare_base_url=base_url.rstrip("/"),
            connect_timeout=number("UPSTREAM_CONNECT_TIMEOUT_SECONDS", 2.0, 0.1, 30),
            read_timeout=number("UPSTREAM_READ_TIMEOUT_SECONDS", 3.0, 0.1, 30),
            max_retries=int(number("UPSTREAM_MAX_RETRIES", 2, 0, 10)),
            batch_max_items=int(number("BATCH_MAX_ITEMS", 100, 1, 1000)),
            upstream_concurrency=int(number("UPSTREAM_CONCURRENCY", 4, 1, 32)),
            upstream_calls_per_second=number("UPSTREAM_CALLS_PER_5_MINUTES", 600, 1, 10**9)
            / 300
            / FUNCTIONS_SHARING_THE_BUDGET
            / max(1, int(number("UPSTREAM_BUDGET_CONTAINERS", 1, 0, 10000))),
            upstream_calls_per_5_minutes=int(number("UPSTREAM_CALLS_PER_5_MINUTES", 600, 1, 10**9)),
            budget_table=env.get("UPSTREAM_BUDGET_TABLE", ""),
        )


GRACE_MARGIN = 3600  # the template's floor for the grace period is the 24 h token lifetime plus this


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
            grace = int(raw) if raw else MAX_LIFETIME + GRACE_MARGIN
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
