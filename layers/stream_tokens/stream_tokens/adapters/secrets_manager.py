"""Minting's Cloudflare credentials from AWS Secrets Manager (the only module that reads them).

It is read through Powertools parameters, which caches it for `max_age` seconds; `get(refresh=True)`
re-reads it at once (after Cloudflare refused a rotated token). Minting reads the AWSCURRENT version
only (never a rotation's AWSPENDING one); the rotation reads versions through `secret_versions`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)

from ..domain.credentials import CloudflareCredentials
from ..domain.errors import ConfigurationError


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
        secret = self._read(refresh)
        parsed = self._parsed
        if parsed is not None and parsed[0] is secret:
            return parsed[1]
        credentials = CloudflareCredentials.from_secret(secret, with_signing_key=self._with_signing_key)
        self._parsed = (secret, credentials)
        return credentials

    def _read(self, refresh: bool) -> Any:
        if self._provider is None:
            self._provider = SecretsProvider()
        try:
            return self._provider.get(
                self._secret_id, max_age=self._max_age, transform="json", force_fetch=refresh, VersionStage="AWSCURRENT"
            )
        except TransformParameterError:
            raise ConfigurationError("the Cloudflare secret is not valid JSON") from None
        except GetParameterError as exc:
            raise ConfigurationError(f"cannot read the Cloudflare secret: {_aws_reason(exc)}") from None


def _aws_reason(exc: GetParameterError) -> str:
    """The AWS error code and message (never a value): e.g. ResourceNotFoundException."""
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return str(exc)
