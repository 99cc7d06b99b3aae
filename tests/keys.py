"""Key material generated at test time (nothing is committed)."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.log_hygiene import sensitive


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cloudflare_pem(key: rsa.RSAPrivateKey | None = None) -> str:
    """A signing key's `pem` as Cloudflare returns it: base64 of a PKCS#1 PEM."""
    pem = (key or rsa_key()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return base64.b64encode(pem).decode()


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
