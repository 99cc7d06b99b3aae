"""The log scan's fast search finds exactly what searching the whole text for each value finds."""

from __future__ import annotations

import base64
import json
import random
import secrets

from tests.support.keys import ec_pem
from tests.support.log_hygiene import leaked


def shapes(rng: random.Random) -> list[str]:
    """Values shaped as the suite's sensitive ones: JWTs, PEM keys, JWK JSON, API tokens."""
    token = ".".join(secrets.token_urlsafe(rng.choice((24, 90, 256))) for _ in range(3))
    pem = base64.b64decode(ec_pem()).decode()  # a key generated now: a multi-line PEM
    jwk = json.dumps({"kty": "RSA", "n": secrets.token_urlsafe(256), "e": "AQAB"})
    return [token, pem, jwk, secrets.token_urlsafe(30), secrets.token_hex(16), "short-one"]


def test_the_fast_scan_agrees_with_a_search_per_value():
    rng = random.Random(7)
    values = [value for _ in range(40) for value in shapes(rng)]
    chunks = [json.dumps({"message": "request refused", "id": secrets.token_hex(18)}) for _ in range(200)]
    wrappers = ["{}", "Bearer {}", "?token={}&x", "x{}", "{}y", "a-{}-b", '"{}"', "{}\n"]
    for value in rng.sample(values, 60):  # some values appear, each in some surrounding
        chunks.insert(rng.randrange(len(chunks)), rng.choice(wrappers).format(value))
    for value in rng.sample(values, 30):  # parts of others appear, never the whole value
        chunks.insert(rng.randrange(len(chunks)), value[1:-1])
    text = "\n".join(chunks)
    expected = {value for value in values if value in text}
    assert len(expected) >= 40
    assert leaked(set(values), text) == expected
