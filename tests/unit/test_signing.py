"""Local signing: the token Cloudflare's documentation builds, from keys in Cloudflare's format."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey
from jwt.algorithms import RSAAlgorithm

from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.signing_keys import new_signing_key, public_jwk
from stream_tokens.adapters.issuers import LocalIssuer
from stream_tokens.domain import signing
from stream_tokens.domain.call_limits import CallLimits
from stream_tokens.domain.credentials import CloudflareCredentials
from stream_tokens.domain.errors import ConfigurationError, InvalidRequest
from stream_tokens.domain.model import AccessRule, SigningKey, TokenRequest
from stream_tokens.domain.signing import KeyMaterialError, parse_signing_key, stream_token
from tests.support.keys import ec_pem, pkcs1_block
from tests.support.log_hygiene import sensitive

NOW = 1_800_000_000
KID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def key() -> dict:
    made = new_signing_key()
    sensitive(made["pem"])
    sensitive(made["jwk"])
    return made


def payload(token: str, verifier) -> dict:
    return jwt.decode(token, verifier, algorithms=["RS256"], options={"verify_exp": False, "verify_nbf": False})


def test_a_token_is_the_jwt_cloudflare_documents(key):
    parsed = parse_signing_key(key["id"], key["pem"], key["jwk"])
    request = TokenRequest(VIDEO, exp=NOW + 600, nbf=NOW - 60)
    token = stream_token(request, parsed)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": key["id"]}
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "kid": key["id"]}  # exactly: no typ
    from_pem = parsed.public_key
    from_jwk = RSAAlgorithm.from_jwk(json.dumps(public_jwk(key)))
    for verifier in (from_pem, from_jwk):
        assert payload(token, verifier) == {"sub": VIDEO, "kid": key["id"], "exp": NOW + 600, "nbf": NOW - 60}
    assert "=" not in token


def test_downloadable_and_access_rules_are_claims_only_when_given(key):
    parsed = parse_signing_key(key["id"], key["pem"])
    rules = (AccessRule("ip.src", "allow", ip=("192.0.2.0/24",)), AccessRule("any", "block"))
    token = stream_token(TokenRequest(VIDEO, NOW + 60, NOW - 60, True, rules), parsed)
    claims = payload(token, parsed.public_key)
    assert claims["downloadable"] is True
    assert claims["accessRules"] == [
        {"type": "ip.src", "action": "allow", "ip": ["192.0.2.0/24"]},
        {"type": "any", "action": "block"},
    ]
    assert isinstance(claims["exp"], int)


def test_pem_only_jwk_only_and_both_give_the_same_key(key):
    pem_key = parse_signing_key(key["id"], key["pem"])
    jwk_key = parse_signing_key(key["id"], None, key["jwk"])
    both = parse_signing_key(key["id"], key["pem"], key["jwk"])
    numbers = {k.private_key.private_numbers() for k in (pem_key, jwk_key, both)}
    assert len(numbers) == 1
    assert both.public_jwk()["kid"] == key["id"]
    assert "d" not in both.public_jwk()


def test_the_secrets_key_is_parsed_once_and_callers_cannot_evict_it(key):
    signing.secret_key.cache_clear()
    secret = {"account_id": ACCOUNT, "signing_key_id": key["id"], "signing_key_pem": key["pem"]}
    first = CloudflareCredentials.from_secret(secret)
    signer = LocalIssuer()
    for _ in range(20):  # callers' keys go through a cache of their own
        caller = new_signing_key()
        request = TokenRequest(VIDEO, NOW + 60, NOW - 60, signing_key=SigningKey(caller["id"], caller["pem"]))
        signer.issue(request, first, CallLimits(0))
    for _ in range(99):
        assert CloudflareCredentials.from_secret(dict(secret)).signing_key is first.signing_key
    assert signing.secret_key.cache_info().misses == 1


def test_api_mode_leaves_the_key_unread():
    broken = {"account_id": ACCOUNT, "api_token": "t", "signing_key_id": "a" * 32, "signing_key_pem": "junk"}
    assert CloudflareCredentials.from_secret(broken, with_signing_key=False).signing_key is None
    with pytest.raises(ConfigurationError):
        CloudflareCredentials.from_secret(broken)


def other_key_pem() -> str:
    return new_signing_key()["pem"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"signing_key_pem": "KEY"}, "id is missing"),
        ({"signing_key_id": "not-hex", "signing_key_pem": "KEY"}, "not 32 hexadecimal"),
        ({"signing_key_id": KID}, "neither a PEM nor a JWK"),
        ({"signing_key_id": KID, "signing_key_pem": "%%%"}, "PEM is not base64"),
        ({"signing_key_id": KID, "signing_key_pem": b64("hello")}, "not an unencrypted PEM"),
        ({"signing_key_id": KID, "signing_key_pem": ec_pem()}, "not an RSA key"),
        ({"signing_key_id": KID, "signing_key_jwk": "%%%"}, "JWK is not base64"),
        ({"signing_key_id": KID, "signing_key_jwk": b64("[1]")}, "not an RSA key"),
        ({"signing_key_id": KID, "signing_key_jwk": b64('{"kty": "RSA", "n": 1}')}, "not a usable RSA key"),
        ({"signing_key_id": 7, "signing_key_pem": "x"}, "must be strings"),
    ],
)
def test_bad_key_material_in_the_secret_is_a_configuration_error_naming_the_problem(fields, problem):
    with pytest.raises(ConfigurationError) as caught:
        CloudflareCredentials.from_secret({"account_id": ACCOUNT, "api_token": "t"} | fields)
    assert problem in caught.value.detail
    assert caught.value.message == ConfigurationError.PUBLIC_MESSAGE


def test_a_public_only_jwk_a_mismatched_kid_and_two_different_keys_are_refused(key):
    with pytest.raises(KeyMaterialError, match="only a public key"):
        parse_signing_key(key["id"], None, b64(json.dumps(public_jwk(key))))
    with pytest.raises(KeyMaterialError, match="kid is not the signing key id"):
        parse_signing_key("f" * 32, None, key["jwk"])
    with pytest.raises(KeyMaterialError, match="different keys"):
        parse_signing_key(key["id"], other_key_pem(), key["jwk"])


def test_with_both_a_pem_and_a_jwk_the_jwk_is_held_against_the_pem(key):
    """The PEM is parsed (and checked); the JWK beside it must hold the same numbers."""
    jwk = json.loads(base64.b64decode(key["jwk"]))
    public = {name: jwk[name] for name in ("kty", "kid", "n", "e")}
    with pytest.raises(KeyMaterialError, match="only a public key"):
        parse_signing_key(key["id"], key["pem"], b64(json.dumps(public)))
    with pytest.raises(KeyMaterialError, match="not a usable RSA key"):
        parse_signing_key(key["id"], key["pem"], b64(json.dumps(jwk | {"n": 1})))
    with pytest.raises(KeyMaterialError, match="different keys"):
        parse_signing_key(key["id"], key["pem"], b64(json.dumps(jwk | {"dq": jwk["dp"]})))
    with pytest.raises(KeyMaterialError, match="kid is not the signing key id"):
        parse_signing_key(key["id"], key["pem"], b64(json.dumps(jwk | {"kid": "f" * 32})))
    without_crt = {name: jwk[name] for name in ("kty", "kid", "n", "e", "d")}
    parsed = parse_signing_key(key["id"], key["pem"], b64(json.dumps(without_crt)))
    alone = parse_signing_key(key["id"], key["pem"])
    assert parsed.private_key.private_numbers() == alone.private_key.private_numbers()


def test_key_errors_never_carry_the_material(key):
    broken = key["pem"][:-8] + "AAAAAAA="
    with pytest.raises(ConfigurationError) as caught:
        CloudflareCredentials.from_secret(
            {"account_id": ACCOUNT, "signing_key_id": key["id"], "signing_key_pem": broken}
        )
    assert key["pem"][:40] not in caught.value.detail
    assert "MII" not in caught.value.detail


def test_a_secret_with_only_a_signing_key_is_enough_for_local_signing_not_for_the_api(key):
    credentials = CloudflareCredentials.from_secret(
        {"account_id": ACCOUNT, "signing_key_id": key["id"], "signing_key_pem": key["pem"]}
    )
    assert credentials.signing_key is not None
    with pytest.raises(ConfigurationError) as caught:
        credentials.auth_headers()
    assert "needs api_token" in caught.value.detail


def test_the_signer_prefers_the_callers_key_and_needs_one(key):
    signer = LocalIssuer()
    secret_key = parse_signing_key(key["id"], key["pem"])
    caller = new_signing_key()
    sensitive(caller["pem"])
    request = TokenRequest(VIDEO, NOW + 60, NOW - 60, signing_key=SigningKey(caller["id"], caller["pem"]))
    with_secret_key = CloudflareCredentials(ACCOUNT, api_token="t", signing_key=secret_key)
    token = signer.issue(request, with_secret_key, CallLimits(0))
    assert jwt.get_unverified_header(token)["kid"] == caller["id"]
    assert payload(token, parse_signing_key(caller["id"], caller["pem"]).public_key)["sub"] == VIDEO
    plain = TokenRequest(VIDEO, NOW + 60, NOW - 60)
    assert jwt.get_unverified_header(signer.issue(plain, with_secret_key, CallLimits(0)))["kid"] == key["id"]
    with pytest.raises(ConfigurationError):
        signer.issue(plain, CloudflareCredentials(ACCOUNT, api_token="t"), CallLimits(0))


def test_a_callers_key_that_does_not_load_is_the_callers_400():
    # Shaped like a PKCS#1 key (a SEQUENCE of nine INTEGERs) but not a consistent RSA key.
    integer = bytes([0x02, 0x41, 0x00]) + b"\x01" * 64
    body = bytes([0x02, 0x01, 0x00]) + integer * 8
    der = bytes([0x30, 0x82]) + len(body).to_bytes(2, "big") + body
    pem = pkcs1_block(base64.encodebytes(der).decode())
    request = TokenRequest(VIDEO, NOW + 60, NOW - 60, signing_key=SigningKey("a" * 32, b64(pem)))
    with pytest.raises(InvalidRequest) as caught:
        LocalIssuer().issue(request, CloudflareCredentials(ACCOUNT, api_token="t"), CallLimits(0))
    assert [d.pointer for d in caught.value.details] == ["/pem"]
    from stream_tokens.domain.token_requests import token_request

    assert token_request(VIDEO, {"id": "a" * 32, "pem": b64(pem)}, now=NOW, max_lifetime=86400).signing_key


def test_rsa_keys_of_other_sizes_sign_too():
    small = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    parsed = parse_signing_key("b" * 32, None, b64(RSAAlgorithm.to_jwk(small)))
    token = stream_token(TokenRequest(VIDEO, NOW + 60, NOW - 60), parsed)
    assert payload(token, small.public_key())["kid"] == "b" * 32


REQUESTS = [
    TokenRequest(VIDEO, NOW + 600, NOW - 60),
    TokenRequest(VIDEO, NOW + 60, NOW - 60, True, (AccessRule("ip.geoip.country", "allow", country=("NO", "SE")),)),
    TokenRequest(VIDEO, NOW + 86400, NOW, False, (AccessRule("ip.src", "block", ip=("2001:db8::/32",)),)),
]


@pytest.mark.parametrize("request_", REQUESTS)
def test_a_token_is_byte_for_byte_what_pyjwt_signs(key, request_):
    """Signed with cryptography directly (see signing.py), yet the very token PyJWT's JWS layer
    makes of the same claims and header (RS256 with PKCS#1 v1.5 is deterministic)."""
    parsed = parse_signing_key(key["id"], key["pem"])
    claims = json.dumps({"sub": VIDEO, "kid": key["id"]} | request_.claims(), separators=(",", ":"))
    by_pyjwt = jwt.api_jws.PyJWS().encode(
        claims.encode(), parsed.private_key, algorithm="RS256", headers={"kid": key["id"], "typ": None}
    )
    assert sensitive(stream_token(request_, parsed)) == sensitive(by_pyjwt)


@pytest.mark.parametrize("request_", REQUESTS)
def test_a_token_verifies_with_an_independent_jose_library(key, request_):
    parsed = parse_signing_key(key["id"], key["pem"])
    token = sensitive(stream_token(request_, parsed))
    verified = jws.deserialize_compact(token, RSAKey.import_key(public_jwk(key)), algorithms=["RS256"])
    assert verified.protected == {"alg": "RS256", "kid": key["id"]}
    assert json.loads(verified.payload) == {"sub": VIDEO, "kid": key["id"]} | request_.claims()
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(tampered, RSAKey.import_key(public_jwk(key)), algorithms=["RS256"])


def inconsistent_pem() -> str:
    """An RSA key whose private numbers do not belong together (wrong d and CRT exponent): it only
    loads when validation is skipped, and then signs what its public half does not verify."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    broken = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d + 2, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = broken.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return sensitive(base64.b64encode(pem).decode())


def test_the_secrets_key_is_proven_by_a_signature_and_callers_keys_by_full_validation(key, monkeypatch):
    """The operator's key skips cryptography's costly RSA checks but must verify its own
    signature; a key a caller sends is always fully validated."""
    pem = inconsistent_pem()
    with pytest.raises(KeyMaterialError, match="does not verify its own signature"):
        parse_signing_key(KID, pem, trusted=True)
    with pytest.raises(KeyMaterialError, match="not an unencrypted PEM private key"):
        parse_signing_key(KID, pem)
    loads: list[bool] = []
    real = serialization.load_pem_private_key

    def load(*args: Any, **options: Any) -> Any:
        loads.append(options["unsafe_skip_rsa_key_validation"])
        return real(*args, **options)

    monkeypatch.setattr(serialization, "load_pem_private_key", load)
    signing.secret_key.cache_clear()
    signing.caller_key.cache_clear()
    CloudflareCredentials.from_secret(
        {"account_id": ACCOUNT, "signing_key_id": key["id"], "signing_key_pem": key["pem"]}
    )
    request = TokenRequest(VIDEO, NOW + 60, NOW - 60, signing_key=SigningKey(key["id"], key["pem"]))
    LocalIssuer().issue(request, CloudflareCredentials(ACCOUNT, api_token="x"), CallLimits(0))
    assert loads == [True, False]
    signing.secret_key.cache_clear()
    signing.caller_key.cache_clear()


@given(data=st.binary(max_size=600))
def test_base64url_is_the_standard_librarys_without_padding(data):
    assert signing._b64url(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
