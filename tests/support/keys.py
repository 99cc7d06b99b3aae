"""Key material generated at test time (nothing is committed)."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.log_hygiene import sensitive


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cloudflare_pem(key: rsa.RSAPrivateKey | None = None) -> str:
    """A signing key's `pem` as Cloudflare returns it: base64 of a PKCS#1 PEM."""
    pem = (key or rsa_key()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return base64.b64encode(pem).decode()


def pkcs1_block(body: str, end: bool = True) -> str:
    """Text framed like a PKCS#1 PEM (for malformed keys; real ones come from rsa_key())."""
    label = "RSA PRIVATE KEY"
    return f"-----BEGIN {label}-----\n{body}" + (f"-----END {label}-----\n" if end else "")


def ec_pem() -> str:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return base64.b64encode(pem).decode()


def sensitive_pem() -> str:
    """A fresh signing key's pem, registered so that the log scan looks for it."""
    pem = cloudflare_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    sensitive(base64.b64decode(pem).decode().splitlines()[1])  # a line of the key itself
    return sensitive(pem)


def sensitive_key() -> dict:
    """A Stream signing key in Cloudflare's format, every form of its private part registered for
    the log scan: the base64 PEM and JWK, the PEM's own lines, and the JWK's private exponent."""
    from localdev.standins.signing_keys import new_signing_key

    return register_key(new_signing_key())


def register_key(key: dict) -> dict:
    """Register every form of a key's private part (Cloudflare's format) for the log scan."""
    import json

    sensitive(key["pem"])
    sensitive(key["jwk"])
    for line in base64.b64decode(key["pem"]).decode().splitlines()[1:-1]:
        if len(line) >= 40:
            sensitive(line)
    sensitive(json.loads(base64.b64decode(key["jwk"]))["d"])
    return key
