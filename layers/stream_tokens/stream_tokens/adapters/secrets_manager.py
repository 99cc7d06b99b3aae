"""Minting's Cloudflare credentials from AWS Secrets Manager (the only module that reads them).

The secret is read with a botocore client (GetSecretValue, AWSCURRENT) and kept for `max_age`
seconds; `get(refresh=True)` re-reads it at once (after Cloudflare refused a rotated token). Minting
reads the AWSCURRENT version only (never a rotation's AWSPENDING one); the rotation reads versions
through `secret_versions`. With a signing-key secret of its own (SIGNING_KEY_SECRET_ARN), local
signing reads only that secret, and `auto` reads both (`KeyAndApiCredentials`).

Not through Powertools' parameters utility, nor boto3: `aws_lambda_powertools.utilities.parameters`
imports every provider, and its secrets module imports boto3 (and boto3 s3transfer), which together
cost more of a cold start than the rest of the signing path; botocore's client, which boto3 would
wrap, is all that reading one secret needs. (Lambda's Python runtime ships boto3 and botocore.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import observability
from ..domain.credentials import CloudflareCredentials
from ..domain.errors import ConfigurationError
from . import aws_request
from .aws_errors import error_code


class SecretsManagerCredentials:
    """Reads and caches the credentials secret; one per container."""

    def __init__(
        self,
        secret_id: str,
        max_age: int,
        client: Any = None,
        *,
        parse: Callable[[Any], CloudflareCredentials] = CloudflareCredentials.from_secret,
        holds_key: bool = False,
    ) -> None:
        """`parse` reads the secret's JSON: `CloudflareCredentials.from_secret` (with or without its
        signing key) or, for a signing-key secret, `from_key_secret`; `holds_key`: the secret should
        hold the signing key (a read without one is counted: SigningKeyMissing)."""
        self._holds_key = holds_key
        self._secret_id = secret_id
        self._max_age = max_age
        self._client = client
        self._parse = parse
        self._secret: tuple[float, Any] | None = None  # (time.monotonic() when it goes stale, the value)
        self._parsed: tuple[Any, CloudflareCredentials] | None = None

    def get(self, *, refresh: bool = False) -> CloudflareCredentials:
        """The credentials; parsed again only when a newly read secret comes in (a secret too
        broken to parse is still kept `max_age`: each request fails on it without reading it)."""
        secret = self._current(refresh)
        parsed = self._parsed
        if parsed is not None and parsed[0] is secret:
            return parsed[1]
        credentials = self._parse(secret)
        self._parsed = (secret, credentials)
        if self._holds_key and credentials.signing_key is None:
            observability.signing_key_missing()  # once per secret read: the alarm for a key removed or never given
        return credentials

    def _current(self, refresh: bool) -> Any:
        now = time.monotonic()
        if refresh or self._secret is None or now >= self._secret[0]:
            self._secret = (now + self._max_age, self._read())
        return self._secret[1]

    def _read(self) -> Any:
        if self._client is None and (text := aws_request.secret_string(self._secret_id)) is not None:
            return _json(text)  # the first read, without building a client (aws_request.py)
        if self._client is None:
            import botocore.session  # noqa: PLC0415 - only when the plain request was not enough

            self._client = botocore.session.get_session().create_client("secretsmanager")
        try:
            answer = self._client.get_secret_value(SecretId=self._secret_id, VersionStage="AWSCURRENT")
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationError(f"cannot read the Cloudflare secret: {_aws_reason(exc)}") from None
        return _json(answer.get("SecretString"))


class KeyAndApiCredentials:
    """SIGNING_MODE=auto with a signing-key secret: the API credentials from the Cloudflare secret
    (its own signing key, if any, left unread), the signing key from the signing-key secret."""

    def __init__(self, api: SecretsManagerCredentials, key: SecretsManagerCredentials) -> None:
        self._api = api
        self._key = key

    def get(self, *, refresh: bool = False) -> CloudflareCredentials:
        return self._api.get(refresh=refresh).with_key_of(self._key.get(refresh=refresh))


def _json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise ConfigurationError("the Cloudflare secret is not valid JSON") from None


def _aws_reason(exc: ClientError | BotoCoreError) -> str:
    """The AWS error code and message (never a value): e.g. ResourceNotFoundException."""
    if isinstance(exc, ClientError):
        return f"{error_code(exc) or 'error'}: {exc.response.get('Error', {}).get('Message', '')}".strip()
    return str(exc)
