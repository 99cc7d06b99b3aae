"""Stream tokens signed with a Stream signing key: pure crypto (no I/O, no credentials).

A token is what Cloudflare's documentation builds: a JWT, RS256, header {"alg": "RS256", "kid"},
payload `sub` (the video id), `kid`, `exp`, `nbf`, and `downloadable` / `accessRules` when given.
Keys arrive as Cloudflare's `POST /stream/keys` returns them: `pem` and `jwk` are base64 of the
PEM / JWK text. Parsing a key checks it (tens of milliseconds), so parsed keys are cached by their
material: the secret's key once per version of it, callers' keys in a cache of their own (so that
callers sending many keys cannot push the secret's key out).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import from_base64url_uint

from .model import TokenRequest, is_cloudflare_id


class KeyMaterialError(Exception):
    """The key material is unusable; the message names the problem, never the bytes."""


@dataclass(frozen=True)
class ParsedSigningKey:
    id: str
    private_key: RSAPrivateKey = field(repr=False)

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (what a player-side verifier or a test needs)."""
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        return jwk | {"kid": self.id, "alg": "RS256", "use": "sig"}


_JWS = PyJWS()


def stream_token(request: TokenRequest, key: ParsedSigningKey) -> str:
    """Sign `request` with `key`, exactly as Cloudflare's documentation builds a token.

    The claims are plain JSON (numbers, strings, booleans), so they are serialised here and PyJWT's
    JWS layer signs them: the same token as `jwt.encode`, without its per-call claim checks.
    """
    payload = json.dumps({"sub": request.video_id, "kid": key.id} | request.claims(), separators=(",", ":"))
    return _JWS.encode(payload.encode(), key.private_key, algorithm="RS256", headers={"kid": key.id, "typ": None})


def verify_stream_token(token: str, key_id: str, public_key: RSAPublicKey) -> dict[str, Any]:
    """The claims of a token signed with `key_id`, checked with its public part (raises
    jwt.InvalidTokenError when the signature, the kid or the expiry does not hold)."""
    if jwt.get_unverified_header(token).get("kid") != key_id:
        raise jwt.InvalidTokenError("the token's kid is not the signing key id")
    claims: dict[str, Any] = jwt.decode(token, public_key, algorithms=["RS256"])
    return claims


def parse_signing_key(key_id: str, pem_b64: str | None = None, jwk_b64: str | None = None) -> ParsedSigningKey:
    """A Stream signing key from Cloudflare's base64 `pem` and/or `jwk`; both must be the same key."""
    key_id = key_id.strip()
    if not key_id:
        raise KeyMaterialError("the signing key id is missing")
    if not is_cloudflare_id(key_id):
        raise KeyMaterialError("the signing key id is not 32 hexadecimal characters")
    if pem_b64 is None and jwk_b64 is None:
        raise KeyMaterialError("neither a PEM nor a JWK was given")
    if pem_b64 is None:
        return ParsedSigningKey(key_id.lower(), _from_jwk(_jwk_object(jwk_b64 or "", key_id)))
    key = _from_pem(pem_b64)
    if jwk_b64 is not None and not _same_key(_jwk_object(jwk_b64, key_id), key):
        raise KeyMaterialError("the PEM and the JWK are different keys")
    return ParsedSigningKey(key_id.lower(), key)


secret_key = lru_cache(maxsize=2)(parse_signing_key)
"""The secret's key, parsed once per version of the secret (the current one and the one before)."""
caller_key = lru_cache(maxsize=8)(parse_signing_key)
"""Keys callers send with their requests, cached apart from the secret's."""


def _decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)  # line breaks are fine
    except ValueError:
        raise KeyMaterialError(f"the {what} is not base64") from None


def _from_pem(pem_b64: str) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_decode(pem_b64, "PEM"), password=None)
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
        given = [from_base64url_uint(jwk[name]) if name in jwk else None for name in _JWK_NUMBERS]
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
