"""Cloudflare credentials from AWS Secrets Manager (the only module that reads the secret).

The secret is a JSON object:
    {"account_id": "<32 hex>", "api_token": "<Cloudflare API token>"}
or, with Cloudflare's legacy global key,
    {"account_id": "<32 hex>", "api_email": "<login email>", "api_key": "<global API key>"}
and it may also hold a Stream signing key, as `POST /stream/keys` returned it:
    "signing_key_id": "<32 hex>", "signing_key_pem": "<base64 PEM>", "signing_key_jwk": "<base64 JWK>"
(either or both of pem and jwk). A secret with a signing key needs no API credentials if every
token is signed locally.

It is read through Powertools parameters, which caches it for `max_age` seconds; `get(refresh=True)`
re-reads it at once (after Cloudflare refused a rotated token). Minting reads the AWSCURRENT version
only (never a rotation's AWSPENDING one); the rotation function handles versions in secret_versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)

from .errors import ConfigurationError
from .model import is_cloudflare_id

if TYPE_CHECKING:
    from .signing import ParsedSigningKey


@dataclass(frozen=True)
class CloudflareCredentials:
    account_id: str
    api_token: str | None = field(default=None, repr=False)
    api_email: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    signing_key: ParsedSigningKey | None = field(default=None, repr=False)

    def auth_headers(self) -> dict[str, str]:
        if self.api_token:
            return {"Authorization": f"Bearer {self.api_token}"}
        if self.api_email and self.api_key:
            return {"X-Auth-Email": self.api_email, "X-Auth-Key": self.api_key}
        raise ConfigurationError("calling Cloudflare's API needs api_token (or api_email + api_key) in the secret")

    @classmethod
    def from_secret(cls, secret: Any, *, with_signing_key: bool = True) -> CloudflareCredentials:
        """Parse the secret's JSON; the errors name the field, never its value.

        `with_signing_key=False` (SIGNING_MODE=api) leaves a signing key in the secret unread.
        """
        if not isinstance(secret, dict):
            raise ConfigurationError("the Cloudflare secret is not a JSON object")

        def text(name: str) -> str | None:
            value = secret.get(name)
            if value is None or value == "":
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"the Cloudflare secret's {name} is not a string")
            return value.strip()

        account_id = text("account_id")
        if account_id is None:
            raise ConfigurationError("the Cloudflare secret has no account_id")
        if not is_cloudflare_id(account_id):
            raise ConfigurationError("the Cloudflare secret's account_id is not 32 hexadecimal characters")
        api_token, api_email, api_key = text("api_token"), text("api_email"), text("api_key")
        signing_key = None
        if with_signing_key and any(name.startswith("signing_key_") for name in secret):
            from .signing import secret_signing_key  # noqa: PLC0415 - cryptography only when a key is held

            signing_key = secret_signing_key(secret)
        if not api_token and not (api_email and api_key) and signing_key is None:
            raise ConfigurationError(
                "the Cloudflare secret has neither api_token nor api_email + api_key nor a signing key"
                if with_signing_key
                else "the Cloudflare secret has neither api_token nor api_email + api_key, which SIGNING_MODE=api needs"
            )
        return cls(account_id.lower(), api_token, api_email, api_key, signing_key)


class SecretsManagerCredentials:
    """Reads and caches the credentials secret; one per container."""

    def __init__(
        self, secret_id: str, max_age: int, provider: SecretsProvider | None = None, *, with_signing_key: bool = True
    ) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._provider = provider
        self._with_signing_key = with_signing_key
        self._parsed: tuple[Any, CloudflareCredentials] | None = None

    def get(self, *, refresh: bool = False) -> CloudflareCredentials:
        """The credentials; parsed again only when Powertools hands over a newly read secret (its
        cache returns the very same object until `max_age` has passed)."""
        if self._provider is None:
            self._provider = SecretsProvider()
        try:
            secret = self._provider.get(
                self._secret_id, max_age=self._max_age, transform="json", force_fetch=refresh, VersionStage="AWSCURRENT"
            )
        except TransformParameterError:
            raise ConfigurationError("the Cloudflare secret is not valid JSON") from None
        except GetParameterError as exc:
            raise ConfigurationError(f"cannot read the Cloudflare secret: {_aws_reason(exc)}") from None
        parsed = self._parsed
        if parsed is not None and parsed[0] is secret:
            return parsed[1]
        credentials = CloudflareCredentials.from_secret(secret, with_signing_key=self._with_signing_key)
        self._parsed = (secret, credentials)
        return credentials


def _aws_reason(exc: GetParameterError) -> str:
    """The AWS error code and message (never a value): e.g. ResourceNotFoundException."""
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return str(exc)
