"""What a rotation of the Stream signing key writes into the Cloudflare secret beside the key, and
the check the new key must pass before it becomes current.

Retired keys are recorded in the secret, `retired_signing_keys: [{"id", "retired_at"}]`. The key
being replaced is written with `retired_at: null`, meaning "retired when this version became
AWSCURRENT": finishSecret cannot write (it only moves labels), so the next rotation's createSecret
stamps it with its own time, a moment after the real retirement (later, never earlier). A pending
version also names the AWSCURRENT version it was made from (`rotation_source_version`), so that a
later rotation finds the keys of rotations that never finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from .credentials import API_CREDENTIAL_FIELDS, SIGNING_KEY_FIELDS, SIGNING_KEY_ID, SIGNING_KEY_JWK, SIGNING_KEY_PEM
from .errors import ConfigurationError, SigningKeyRotationFailed
from .model import NewSigningKey, TokenRequest, is_cloudflare_id
from .signing import KeyMaterialError, parse_signing_key, stream_token, verify_stream_token

RETIRED = "retired_signing_keys"
SOURCE = "rotation_source_version"  # the AWSCURRENT version a pending version was made from
PROBE_VIDEO = "0" * 32  # the subject of testSecret's token (never handed out)


@dataclass(frozen=True)
class RetiredKey:
    id: str
    retired_at: int | None  # unix seconds; None: when the version holding this record became current

    def to_json(self) -> dict[str, Any]:
        stamp = None if self.retired_at is None else datetime.fromtimestamp(self.retired_at, UTC)
        return {"id": self.id, "retired_at": None if stamp is None else stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}


def retired_keys(secret: dict[str, Any]) -> list[RetiredKey]:
    """The secret's `retired_signing_keys` (a ConfigurationError when malformed)."""
    records = secret.get(RETIRED, [])
    if not isinstance(records, list):
        raise ConfigurationError(f"the Cloudflare secret's {RETIRED} is not a list")
    parsed = []
    for record in records:
        key_id = record.get("id") if isinstance(record, dict) else None
        stamp = record.get("retired_at") if isinstance(record, dict) else None
        if not is_cloudflare_id(key_id):
            raise ConfigurationError(f"an entry of the Cloudflare secret's {RETIRED} has no 32-hex id")
        try:
            retired_at = None if stamp is None else int(datetime.fromisoformat(str(stamp)).timestamp())
        except ValueError:
            raise ConfigurationError(f"an entry of the Cloudflare secret's {RETIRED} has a bad retired_at") from None
        parsed.append(RetiredKey(key_id.lower(), retired_at))
    return parsed


def one_per_key(records: list[RetiredKey]) -> list[RetiredKey]:
    """One record per key: the latest retirement wins (later deletion is the safe side)."""
    latest: dict[str, RetiredKey] = {}
    for record in records:
        seen = latest.get(record.id)
        if seen is None or _later(record.retired_at, seen.retired_at):
            latest[record.id] = record
    return list(latest.values())


def _later(stamp: int | None, than: int | None) -> bool:
    """None (not stamped yet) is the latest of all."""
    if than is None:
        return False
    return stamp is None or stamp > than


def pending_value(
    current: dict[str, Any], key: NewSigningKey, retired: list[RetiredKey], source: str | None
) -> dict[str, Any]:
    """The pending version: every field of the current one, the new key, the retirement records,
    and the version it was made from."""
    kept = {name: value for name, value in current.items() if name not in (*SIGNING_KEY_FIELDS, RETIRED, SOURCE)}
    return kept | {
        SIGNING_KEY_ID: key.id,
        SIGNING_KEY_PEM: key.pem,
        SIGNING_KEY_JWK: key.jwk,
        RETIRED: [r.to_json() for r in retired],
        SOURCE: source,
    }


def key_secret_base(current: dict[str, Any], account_id: str) -> dict[str, Any]:
    """What a signing-key secret's pending version starts from: the current fields without any API
    credentials (a copy of the Cloudflare secret loses them at its first rotation), and the account
    of the API credentials that create the key."""
    return {name: value for name, value in current.items() if name not in API_CREDENTIAL_FIELDS} | {
        "account_id": account_id
    }


def pending_key_checked(pending: dict[str, Any], now: int) -> str:
    """The pending key's id, once a token signed with its PEM at `now` verified with its JWK."""
    key_id, pem, jwk = (pending.get(name) for name in SIGNING_KEY_FIELDS)
    if not (is_cloudflare_id(key_id) and isinstance(pem, str) and isinstance(jwk, str)):
        raise SigningKeyRotationFailed("the pending version lacks a signing_key_id, _pem or _jwk")
    try:
        signer = parse_signing_key(key_id, pem_b64=pem)
        public = parse_signing_key(key_id, jwk_b64=jwk).public_key
        probe = stream_token(TokenRequest(PROBE_VIDEO, exp=now + 300, nbf=now - 60), signer)
        verify_stream_token(probe, signer.id, public)
    except (KeyMaterialError, jwt.InvalidTokenError) as exc:
        raise SigningKeyRotationFailed(f"the pending signing key does not sign and verify: {exc}") from None
    return signer.id
