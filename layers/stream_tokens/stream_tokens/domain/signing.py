"""Stream tokens signed with a Stream signing key: pure crypto (no I/O, no credentials).

A token is what Cloudflare's documentation builds: a JWT, RS256, header {"alg": "RS256", "kid"},
payload `sub` (the video id), `kid`, `exp`, `nbf`, and `downloadable` / `accessRules` when given
(and `flags`, as sent, when given). Keys arrive as Cloudflare's `POST /stream/keys` returns them:
`pem` and `jwk` are base64 of the PEM / JWK text.

Tokens are signed with `cryptography` directly, not through PyJWT, for the cold start and the cost
per token; a caller's key is checked in full, the secret's by a signature; parsed keys are cached.
Why, and what holds it to PyJWT: docs/design/signing.md.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from .model import TokenRequest, is_cloudflare_id


class KeyMaterialError(Exception):
    """The key material is unusable; the message names the problem, never the bytes."""


@dataclass(frozen=True)
class ParsedSigningKey:
    id: str
    private_key: RSAPrivateKey = field(repr=False)
    header_segment: str = field(init=False, repr=False)
    """base64url of the JWS header, {"alg":"RS256","kid":id}: the same for every token of the key."""

    def __post_init__(self) -> None:
        header = json.dumps({"alg": "RS256", "kid": self.id}, separators=(",", ":"))
        object.__setattr__(self, "header_segment", _b64url(header.encode()))

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (what a player-side verifier or a test needs)."""
        from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415 - PyJWT only off the minting path

        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        return jwk | {"kid": self.id, "alg": "RS256", "use": "sig"}


def stream_token(request: TokenRequest, key: ParsedSigningKey) -> str:
    """Sign `request` with `key`, exactly as Cloudflare's documentation builds a token: the JWS
    compact serialisation header.payload.signature, RS256 (RSASSA-PKCS1-v1_5 with SHA-256), each
    part base64url without padding; byte for byte what PyJWT's `jwt.encode` makes of these claims."""
    claims = {"sub": request.video_id, "kid": key.id} | request.claims()
    signing_input = f"{key.header_segment}.{_b64url(_COMPACT_JSON.encode(claims).encode())}"
    signature = key.private_key.sign(signing_input.encode(), _PKCS1V15, _SHA256)
    return f"{signing_input}.{_b64url(signature)}"


_PKCS1V15, _SHA256 = PKCS1v15(), hashes.SHA256()
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per token


def _b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515): `base64.urlsafe_b64encode(data)` without its "=", made
    faster (docs/design/signing.md)."""
    encoded = binascii.b2a_base64(data, newline=False).rstrip(b"=")
    return encoded.replace(b"+", b"-").replace(b"/", b"_").decode("ascii")


def verify_stream_token(token: str, key_id: str, public_key: RSAPublicKey) -> dict[str, Any]:
    """The claims of a token signed with `key_id`, checked with its public part (raises
    jwt.InvalidTokenError when the signature, the kid or the expiry does not hold)."""
    import jwt  # noqa: PLC0415 - PyJWT only off the minting path (the rotation's test step)

    if jwt.get_unverified_header(token).get("kid") != key_id:
        raise jwt.InvalidTokenError("the token's kid is not the signing key id")
    claims: dict[str, Any] = jwt.decode(token, public_key, algorithms=["RS256"])
    return claims


def parse_signing_key(
    key_id: str, pem_b64: str | None = None, jwk_b64: str | None = None, *, trusted: bool = False
) -> ParsedSigningKey:
    """A Stream signing key from Cloudflare's base64 `pem` and/or `jwk`; both must be the same key.

    A `trusted` PEM (the secret's, which the operator stored) skips cryptography's full RSA key
    validation: the key must sign a probe its own public half verifies instead (a key with
    inconsistent numbers fails it; docs/design/signing.md). Keys callers send are never trusted."""
    key_id = key_id.strip()
    if not key_id:
        raise KeyMaterialError("the signing key id is missing")
    if not is_cloudflare_id(key_id):
        raise KeyMaterialError("the signing key id is not 32 hexadecimal characters")
    if pem_b64 is None and jwk_b64 is None:
        raise KeyMaterialError("neither a PEM nor a JWK was given")
    if pem_b64 is None:
        return ParsedSigningKey(key_id.lower(), _from_jwk(_jwk_object(jwk_b64 or "", key_id)))
    key = _from_pem(pem_b64, trusted=trusted)
    if trusted:
        _self_test(key)
    if jwk_b64 is not None and not _same_key(_jwk_object(jwk_b64, key_id), key):
        raise KeyMaterialError("the PEM and the JWK are different keys")
    return ParsedSigningKey(key_id.lower(), key)


@lru_cache(maxsize=2)
def secret_key(key_id: str, pem_b64: str | None = None, jwk_b64: str | None = None) -> ParsedSigningKey:
    """The secret's key (trusted), parsed once per version of the secret (the current one and the
    one before)."""
    return parse_signing_key(key_id, pem_b64, jwk_b64, trusted=True)


caller_key = lru_cache(maxsize=8)(parse_signing_key)
"""Keys callers send with their requests, fully validated and cached apart from the secret's."""


_PROBE = b"stream-signed-urls: the secret's signing key signs what its public half verifies"


def _self_test(key: RSAPrivateKey) -> None:
    try:
        key.public_key().verify(key.sign(_PROBE, _PKCS1V15, _SHA256), _PROBE, _PKCS1V15, _SHA256)
    except (InvalidSignature, ValueError):
        raise KeyMaterialError("the PEM's key does not verify its own signature") from None


def _decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)  # line breaks are fine
    except ValueError:
        raise KeyMaterialError(f"the {what} is not base64") from None


def _from_pem(pem_b64: str, *, trusted: bool = False) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(
            _decode(pem_b64, "PEM"), password=None, unsafe_skip_rsa_key_validation=trusted
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError("the PEM is not an unencrypted PEM private key of a supported kind") from None
    if not isinstance(key, RSAPrivateKey):
        raise KeyMaterialError("the PEM is not an RSA key")
    return key


def _jwk_object(jwk_b64: str, key_id: str) -> dict[str, Any]:
    try:
        jwk = json.loads(_decode(jwk_b64, "JWK"))
    except ValueError:
        raise KeyMaterialError("the JWK is not JSON") from None
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        raise KeyMaterialError("the JWK is not an RSA key")
    if "kid" in jwk and str(jwk["kid"]).lower() != key_id.lower():
        raise KeyMaterialError("the JWK's kid is not the signing key id")
    return jwk


def _from_jwk(jwk: dict[str, Any]) -> RSAPrivateKey:
    import jwt  # noqa: PLC0415 - PyJWT only for a key given as a JWK alone
    from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415

    try:
        key = RSAAlgorithm.from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError("the JWK is not a usable RSA key") from None
    if not isinstance(key, RSAPrivateKey):
        raise KeyMaterialError("the JWK holds only a public key")
    return key


_JWK_NUMBERS = ("n", "e", "d", "p", "q", "dp", "dq", "qi")


def _same_key(jwk: dict[str, Any], key: RSAPrivateKey) -> bool:
    """Whether the JWK holds `key`: its numbers are compared as they are, without building (and
    checking, tens of milliseconds) a second key; a JWK without the CRT values is compared on n, e, d."""
    try:
        given = [_base64url_uint(jwk[name]) if name in jwk else None for name in _JWK_NUMBERS]
    except (ValueError, TypeError, AttributeError):  # binascii.Error is a ValueError
        raise KeyMaterialError("the JWK is not a usable RSA key") from None
    numbers = key.private_numbers()
    held = [
        numbers.public_numbers.n,
        numbers.public_numbers.e,
        numbers.d,
        numbers.p,
        numbers.q,
        numbers.dmp1,
        numbers.dmq1,
        numbers.iqmp,
    ]
    if None in given[:2]:
        raise KeyMaterialError("the JWK is not a usable RSA key")
    if given[2] is None:
        raise KeyMaterialError("the JWK holds only a public key")
    return all(mine == theirs for mine, theirs in zip(held, given, strict=True) if theirs is not None)


def _base64url_uint(value: str) -> int:
    """A JWK number (RFC 7518 6.3: base64url of its big-endian bytes, padding left off)."""
    return int.from_bytes(base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4)), "big")
