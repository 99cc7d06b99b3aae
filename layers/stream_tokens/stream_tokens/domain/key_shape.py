"""Whether a caller's `pem` has the shape of a Stream signing key, without parsing the key.

Base64 of a PKCS#1 PEM block whose DER is an RSAPrivateKey. Full parsing is the signer's job (and
costs tens of milliseconds); this cheap check keeps garbage away from Cloudflare in API mode, and
keys larger than MAX_KEY_BITS away from the signer: RSA work grows with the cube of the modulus
size, so a caller's 16,384-bit key would cost a container seconds of CPU per token.
"""

from __future__ import annotations

import base64

_PEM_LABEL = "RSA PRIVATE KEY"  # PKCS#1, as Cloudflare's POST /stream/keys returns keys
_PEM_BEGIN, _PEM_END = f"-----BEGIN {_PEM_LABEL}-----", f"-----END {_PEM_LABEL}-----"
MIN_KEY_BYTES = 64  # a 512-bit modulus: below it the DER cannot be a key Cloudflare issued
MAX_KEY_BITS = 4096  # Cloudflare issues 2,048-bit keys; twice that is the most a caller may send


def is_base64_pem_rsa_key(value: str) -> bool:
    """Base64 of a PKCS#1 PEM whose DER is an RSAPrivateKey: a SEQUENCE of 9 INTEGERs, version
    first, whose modulus (the second) has at most MAX_KEY_BITS bits.

    (Full parsing of the key is the signer's job; this keeps garbage and oversized keys from it and
    from Cloudflare, reading the modulus's size from the DER before any RSA work.)
    """
    try:
        text = base64.b64decode(value, validate=True).decode("ascii").strip()
        if not (text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END)):
            return False
        der = base64.b64decode("".join(text[len(_PEM_BEGIN) : -len(_PEM_END)].split()), validate=True)
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        return False
    fields = _der_sequence(der)
    if fields is None or len(fields) < 9 or fields[0] not in (b"\x00", b"\x01"):
        return False
    return len(fields[1]) >= MIN_KEY_BYTES and modulus_bits(fields[1]) <= MAX_KEY_BITS


def modulus_bits(integer: bytes) -> int:
    """The size in bits of a DER INTEGER's content read as unsigned (its leading 0x00 ignored)."""
    return int.from_bytes(integer, "big").bit_length()


def _der_sequence(der: bytes) -> list[bytes] | None:
    """The INTEGER values of a DER SEQUENCE that spans all of `der`, or None if it is not one."""
    content = _der_element(der, 0, tag=0x30)
    if content is None or content[1] != len(der):
        return None
    integers, position = [], content[0][0]
    while position < content[0][1]:
        element = _der_element(der, position, tag=0x02)
        if element is None:
            return None
        (start, end), position = element
        integers.append(der[start:end])
    return integers


def _der_element(der: bytes, at: int, *, tag: int) -> tuple[tuple[int, int], int] | None:
    """((content start, content end), next position) of the element at `at`, if it has `tag`."""
    if at + 2 > len(der) or der[at] != tag:
        return None
    length, start = der[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or start + size > len(der):
            return None
        length, start = int.from_bytes(der[start : start + size], "big"), start + size
    end = start + length
    return ((start, end), end) if end <= len(der) else None
