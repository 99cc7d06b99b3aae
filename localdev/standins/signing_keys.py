"""Stream signing keys as Cloudflare's `POST /accounts/{account_id}/stream/keys` returns them:
`id`, `pem` (base64 of a PKCS#1 PEM), `jwk` (base64 of an RSA JWK with kid, alg RS256), `created`.
Generated on demand: no key is ever committed."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from stream_tokens.domain.credentials import SIGNING_KEY_ID, SIGNING_KEY_JWK, SIGNING_KEY_PEM


def new_signing_key() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = secrets.token_hex(16)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    jwk = json.loads(RSAAlgorithm.to_jwk(key)) | {"kid": key_id, "alg": "RS256", "use": "sig"}
    return {
        "id": key_id,
        "pem": base64.b64encode(pem).decode(),
        "jwk": base64.b64encode(json.dumps(jwk).encode()).decode(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
    }


def secret_fields(key: dict[str, Any]) -> dict[str, str]:
    """The credentials secret's fields for a key: what docs/deploying.md tells operators to store."""
    return {SIGNING_KEY_ID: key["id"], SIGNING_KEY_PEM: key["pem"], SIGNING_KEY_JWK: key["jwk"]}


def public_jwk(key: dict[str, Any]) -> dict[str, Any]:
    """The public half of a key's JWK: what verifies its tokens."""
    jwk: dict[str, Any] = json.loads(base64.b64decode(key["jwk"]))
    return {name: jwk[name] for name in ("kty", "kid", "alg", "use", "n", "e")}


def public_key(jwk: dict[str, Any]) -> RSAPublicKey:
    """The RSA public key of a public JWK (what PyJWT verifies a token with)."""
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert isinstance(key, RSAPublicKey), "not a public RSA JWK"
    return key
