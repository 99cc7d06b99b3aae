"""The Cloudflare secret's content: what it holds, its field names, and its parsing.

The secret is a JSON object:
    {"account_id": "<32 hex>", "api_token": "<Cloudflare API token>"}
or, with Cloudflare's legacy global key,
    {"account_id": "<32 hex>", "api_email": "<login email>", "api_key": "<global API key>"}
and it may also hold a Stream signing key, as `POST /stream/keys` returned it:
    "signing_key_id": "<32 hex>", "signing_key_pem": "<base64 PEM>", "signing_key_jwk": "<base64 JWK>"
(either or both of pem and jwk). A secret with a signing key needs no API credentials if every
token is signed locally. Reading it is the adapters' job (`adapters.secrets_manager`).

A deployment may keep the signing key in a secret of its own (the SigningKeySecretArn parameter):
`{"account_id", "signing_key_id", "signing_key_pem", "signing_key_jwk", ...}` without API credentials,
filled by the rotation, so that minting with SIGNING_MODE=local never reads the API token.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .model import is_cloudflare_id

if TYPE_CHECKING:
    from .signing import ParsedSigningKey

SIGNING_KEY_ID = "signing_key_id"
SIGNING_KEY_PEM = "signing_key_pem"
SIGNING_KEY_JWK = "signing_key_jwk"
SIGNING_KEY_FIELDS = (SIGNING_KEY_ID, SIGNING_KEY_PEM, SIGNING_KEY_JWK)
"""The secret's fields that hold a Stream signing key (the one place they are named)."""
API_CREDENTIAL_FIELDS = ("api_token", "api_email", "api_key")
"""The secret's fields that let a caller use Cloudflare's API (never in a signing-key secret)."""
_KEY_HOLDER = "the signing-key secret"


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
        account_id = _account_id(secret)
        api_token, api_email, api_key = (_text(secret, name) for name in API_CREDENTIAL_FIELDS)
        signing_key = secret_signing_key(secret) if with_signing_key else None
        if not api_token and not (api_email and api_key) and signing_key is None:
            raise ConfigurationError(
                "the Cloudflare secret has neither api_token nor api_email + api_key nor a signing key"
                if with_signing_key
                else "the Cloudflare secret has neither api_token nor api_email + api_key, which SIGNING_MODE=api needs"
            )
        return cls(account_id, api_token, api_email, api_key, signing_key)

    @classmethod
    def from_key_secret(cls, secret: Any) -> CloudflareCredentials:
        """The signing-key secret: its account_id and its key (None until the first rotation); API
        credentials are never taken from it."""
        return cls(_account_id(secret, _KEY_HOLDER), signing_key=secret_signing_key(secret))

    def with_key_of(self, key_secret: CloudflareCredentials) -> CloudflareCredentials:
        """These API credentials with the signing-key secret's key, which must be of the same account."""
        if key_secret.account_id != self.account_id:
            raise ConfigurationError(f"{_KEY_HOLDER}'s account_id is not the Cloudflare secret's")
        return replace(self, signing_key=key_secret.signing_key)


def _account_id(secret: Any, what: str = "the Cloudflare secret") -> str:
    if not isinstance(secret, dict):
        raise ConfigurationError(f"{what} is not a JSON object")
    account_id = _text(secret, "account_id")
    if account_id is None:
        raise ConfigurationError(f"{what} has no account_id")
    if not is_cloudflare_id(account_id):
        raise ConfigurationError(f"{what}'s account_id is not 32 hexadecimal characters")
    return account_id.lower()


def _text(secret: dict[str, Any], name: str) -> str | None:
    value = secret.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"the Cloudflare secret's {name} is not a string")
    return value.strip()


def holds_signing_key(secret: dict[str, Any]) -> bool:
    """Whether the secret holds (any field of) a signing key."""
    return any(secret.get(name) not in (None, "") for name in SIGNING_KEY_FIELDS)


def secret_signing_key(secret: dict[str, Any]) -> ParsedSigningKey | None:
    """The signing key in the secret, if it holds one (a ConfigurationError if it is broken)."""
    given = {name: secret.get(name) for name in SIGNING_KEY_FIELDS if secret.get(name) not in (None, "")}
    if not given:
        return None
    if any(not isinstance(value, str) for value in given.values()):
        raise ConfigurationError("the Cloudflare secret's signing_key_* fields must be strings")
    from .signing import KeyMaterialError, secret_key  # noqa: PLC0415 - cryptography only when a key is held

    try:
        return secret_key(given.get(SIGNING_KEY_ID, ""), given.get(SIGNING_KEY_PEM), given.get(SIGNING_KEY_JWK))
    except KeyMaterialError as exc:
        raise ConfigurationError(f"the Cloudflare secret's signing key is unusable: {exc}") from None
