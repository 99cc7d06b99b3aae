"""make run's emulation of API Gateway's JWT authorizer: what it lets through, what it refuses, and
the claims as API Gateway hands them to the function (docs/design/jwt-claims.md)."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.standins.jwt_authorizer import FORBIDDEN, UNAUTHORIZED, LocalIssuer, flattened
from stream_tokens.domain.callers import claim_values
from stream_tokens.runtime.identity import http_caller

ISSUER = LocalIssuer("http://127.0.0.1:3000/local-issuer", key=rsa.generate_private_key(65537, 2048))
SCOPED = LocalIssuer(ISSUER.url, scopes=("stream/mint",), key=ISSUER.key, kid=ISSUER.kid)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_valid_token_passes_with_its_claims_as_api_gateway_hands_them_over():
    token = ISSUER.token({"sub": "u1", "cognito:groups": ["gold", "staff"], "n": 5, "ok": True, "o": {"a": 1}})
    claims = ISSUER.authorize(bearer(token))["jwt"]["claims"]
    assert claims["cognito:groups"] == "[gold staff]"
    assert (claims["n"], claims["ok"], claims["o"], claims["sub"]) == ("5", "true", "map[a:1]", "u1")
    payload = {"sub": "u1", "gone": None, "iss": ISSUER.url, "aud": "stream-signed-urls-local", "exp": 2**40}
    with_null = jwt.encode(payload, ISSUER.key, algorithm="RS256", headers={"kid": ISSUER.kid})
    assert "gone" not in ISSUER.authorize(bearer(with_null))["jwt"]["claims"]  # a null claim is left out
    assert all(isinstance(value, str) for value in claims.values())
    assert ISSUER.authorize(bearer(token))["jwt"]["scopes"] is None  # the route requires none


def test_the_function_reads_the_caller_from_that_event():
    token = ISSUER.token({"sub": "u1", "cognito:groups": ["gold"], "stream_videos": ["a" * 32, "b" * 32]})
    caller = http_caller({"requestContext": {"authorizer": ISSUER.authorize(bearer(token))}})
    assert (caller.id, caller.via, caller.groups) == ("u1", "jwt", frozenset({"gold"}))
    assert claim_values(caller.claims["stream_videos"]) == ("a" * 32, "b" * 32)


@pytest.mark.parametrize(
    "token",
    [
        ISSUER.token({"sub": "u1"}, expires_in=-10),  # expired
        ISSUER.token({"sub": "u1", "nbf": int(time.time()) + 600}),  # not yet valid
        ISSUER.token({"sub": "u1", "iat": int(time.time()) + 600}),  # issued in the future
        ISSUER.token({"sub": "u1", "aud": "another-client"}),  # another audience
        ISSUER.token({"sub": "u1", "iss": "https://someone.else"}),  # another issuer
        LocalIssuer(ISSUER.url, kid=ISSUER.kid).token({"sub": "u1"}),  # the same kid, another key
        LocalIssuer(ISSUER.url).token({"sub": "u1"}),  # another key altogether
        jwt.encode({"sub": "u1", "iss": ISSUER.url, "aud": "stream-signed-urls-local"}, "s" * 32, algorithm="HS256"),
        "not-a-token",
        "",
    ],
)
def test_what_api_gateway_refuses_is_its_401(token):
    refused = ISSUER.authorize(bearer(token))["refused"]
    assert (refused["statusCode"], refused["body"]) == (401, UNAUTHORIZED["body"])
    assert refused["headers"]["www-authenticate"].startswith('Bearer scope="" error="invalid_token"')


def test_alg_none_and_a_missing_header_are_refused():
    unsigned = jwt.encode({"sub": "u1", "iss": ISSUER.url, "exp": int(time.time()) + 60}, "", algorithm="none")
    for headers in (bearer(unsigned), {}, {"authorization": ISSUER.token({"sub": "u1"})}):
        assert ISSUER.authorize(headers)["refused"]["statusCode"] == 401


def test_a_client_id_stands_for_the_audience_and_scopes_are_checked_when_the_route_needs_them():
    machine = ISSUER.token({"sub": "m2m", "aud": None, "client_id": "stream-signed-urls-local"})
    assert ISSUER.authorize(bearer(machine))["jwt"]["claims"]["client_id"] == "stream-signed-urls-local"
    other = ISSUER.token({"sub": "m2m", "aud": None, "client_id": "another-client"})
    assert "not have a valid audience" in ISSUER.authorize(bearer(other))["refused"]["headers"]["www-authenticate"]
    unscoped = ISSUER.token({"sub": "u1", "scope": "openid"})
    scoped = ISSUER.token({"sub": "u1", "scope": "openid stream/mint"})
    assert SCOPED.authorize(bearer(unscoped)) == {"refused": FORBIDDEN}
    assert SCOPED.authorize(bearer(scoped))["jwt"]["scopes"] == ["openid", "stream/mint"]
    assert ISSUER.authorize(bearer(scoped))["jwt"]["scopes"] is None  # a route without scopes: null


def test_claims_flatten_as_public_reports_show():
    assert flattened(["a", "b"]) == "[a b]"
    assert flattened([]) == "[]"
    assert flattened(1612061676) == "1612061676"
    assert flattened(False) == "false"
