"""Local signing through the HTTP handler: SIGNING_MODE, keys in the secret, keys in the request,
and the same answer whichever issuer signs."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest

from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE, VIDEO
from localdev.standins.signing_keys import public_jwk, public_key, secret_fields
from localdev.standins.stack import create_secret
from stream_tokens.domain.errors import ConfigurationError
from tests.support.function import emf_records
from tests.support.keys import pkcs1_block, sensitive_key
from tests.support.log_hygiene import sensitive

pytestmark = pytest.mark.usefixtures("open_policy")  # what minting does, not who may

RULES = [
    {"type": "ip.geoip.country", "action": "block", "country": ["US", "MX"]},
    {"type": "ip.src", "action": "allow", "ip": ["93.184.216.0/24", "2400:cb00::/32"]},
    {"type": "any", "action": "block"},
]


def cloudflare_key() -> dict:
    return sensitive_key()


@pytest.fixture
def key() -> dict:
    return cloudflare_key()


def use_secret(monkeypatch, moto_endpoint: str, fields: dict, mode: str = "auto") -> None:
    arn = create_secret(moto_endpoint, f"signing-{uuid.uuid4().hex}", fields)
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    monkeypatch.setenv("SIGNING_MODE", mode)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()


def claims_of(token: str, key: dict) -> dict:
    verifier = public_key(public_jwk(key))
    return jwt.decode(token, verifier, algorithms=["RS256"], options={"verify_exp": False, "verify_nbf": False})


def test_a_key_in_the_secret_signs_locally_without_calling_cloudflare(
    app, double, moto_endpoint, monkeypatch, key, capsys
):
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key))
    before = int(time.time())
    exp = before + 600
    answer = app.mint({"exp": exp, "downloadable": True, "accessRules": RULES})
    assert answer.status == 200, answer.body
    result = answer.body["result"]
    sensitive(result["token"])
    assert jwt.get_unverified_header(result["token"]) == {"alg": "RS256", "kid": key["id"]}
    claims = claims_of(result["token"], key)
    assert claims == {
        "sub": VIDEO,
        "kid": key["id"],
        "exp": exp,
        "nbf": claims["nbf"],  # checked on the next line: Cloudflare's default, issuing - 1 h
        "downloadable": True,
        "accessRules": RULES,
    }
    assert before - 3600 <= claims["nbf"] <= int(time.time()) - 3600
    assert result["expires_at"] == exp
    assert result["video_id"] == VIDEO
    assert (
        result["urls"]["mp4"]
        == f"https://customer-{CUSTOMER_CODE}.cloudflarestream.com/{result['token']}/downloads/default.mp4"
    )
    assert double.requests == []
    emf = emf_records(capsys)
    assert [(e["Issuer"], e["TokensIssued"]) for e in emf if "TokensIssued" in e] == [("local", [1.0])]
    assert not any("UpstreamLatency" in e or "CloudflareShareUsed" in e for e in emf)  # no call, no share spent


def test_local_and_api_tokens_carry_the_same_claims_and_answers_the_same_shape(
    app, double, moto_endpoint, monkeypatch, key
):
    from stream_tokens.runtime import bootstrap

    frozen = int(time.time()) - 1  # one instant for both requests
    body = {"exp": frozen + 900, "downloadable": True, "accessRules": RULES}
    answers = {}
    for mode in ("api", "local"):
        use_secret(
            monkeypatch,
            moto_endpoint,
            {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key),
            mode,
        )
        bootstrap.token_service().clock = lambda: frozen
        answers[mode] = app.mint(body)
        assert answers[mode].status == 200, answers[mode].body
        sensitive(answers[mode].body["result"]["token"])
    (sent,) = double.token_requests()
    local_claims = claims_of(answers["local"].body["result"]["token"], key)
    assert {k: v for k, v in local_claims.items() if k not in ("sub", "kid")} == sent.body
    assert sent.body == {"exp": frozen + 900, "nbf": frozen - 3600, "downloadable": True, "accessRules": RULES}
    api, local = answers["api"].body["result"], answers["local"].body["result"]
    assert set(api) == set(local)
    assert set(api["urls"]) == set(local["urls"])
    assert (api["video_id"], api["expires_at"]) == (local["video_id"], local["expires_at"])
    for name, url in local["urls"].items():
        assert url.replace(local["token"], "T") == api["urls"][name].replace(api["token"], "T")


def test_defaults_match_cloudflares_when_signing_locally(app, double, moto_endpoint, monkeypatch, key):
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT} | secret_fields(key))
    before = int(time.time())
    answer = app.mint(None)
    claims = claims_of(answer.body["result"]["token"], key)
    sensitive(answer.body["result"]["token"])
    assert before + 3600 <= claims["exp"] <= int(time.time()) + 3600
    assert claims["nbf"] == claims["exp"] - 7200
    assert "downloadable" not in claims
    assert "accessRules" not in claims


def test_a_callers_own_key_is_used_to_sign_locally_in_auto_mode(app, double, key):
    answer = app.mint({"id": key["id"], "pem": key["pem"]})
    assert answer.status == 200
    sensitive(answer.body["result"]["token"])
    assert claims_of(answer.body["result"]["token"], key)["kid"] == key["id"]
    assert double.requests == []


def test_without_a_key_auto_mode_calls_the_api(app, double):
    assert app.mint({}).status == 200
    assert len(double.token_requests()) == 1


def test_api_mode_calls_cloudflare_even_with_a_key_in_the_secret(app, double, moto_endpoint, monkeypatch, key):
    use_secret(
        monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key), "api"
    )
    answer = app.mint({})
    assert answer.status == 200
    assert answer.body["result"]["token"] == double.issued_tokens[0]


@pytest.mark.parametrize(
    ("fields", "logged"),
    [
        ({"signing_key_id": "c" * 32, "signing_key_pem": "not base64!"}, "the PEM is not base64"),
        ({"signing_key_id": "c" * 32, "signing_key_pem": "aGVsbG8="}, "not an unencrypted PEM private key"),
        ("ec", "not an RSA key"),
        ("no-id", "the signing key id is missing"),
        ({}, "local signing needs a signing key"),
    ],
)
def test_bad_key_material_is_a_500_and_a_precise_log_line_without_key_bytes(
    app, double, moto_endpoint, monkeypatch, caplog, fields, logged
):
    from tests.support.keys import ec_pem

    if fields == "ec":
        fields = {"signing_key_id": "e" * 32, "signing_key_pem": sensitive(ec_pem())}
    elif fields == "no-id":
        fields = {"signing_key_pem": cloudflare_key()["pem"]}
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | fields, "local")
    answer = app.mint({})
    assert answer.status == 500
    assert answer.body["errors"] == [{"code": 10010, "message": ConfigurationError.PUBLIC_MESSAGE}]
    details = [getattr(r, "detail", "") for r in caplog.records if r.levelname == "ERROR"]
    assert any(logged in d for d in details), details
    assert double.requests == []


def test_a_secret_with_only_a_key_cannot_call_the_api(app, double, moto_endpoint, monkeypatch, key, caplog):
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT} | secret_fields(key), "api")
    answer = app.mint({})
    assert answer.status == 500
    assert any("which SIGNING_MODE=api needs" in getattr(r, "detail", "") for r in caplog.records)


def test_local_mode_signs_with_a_callers_key_too(app, double, monkeypatch):
    monkeypatch.setenv("SIGNING_MODE", "local")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    caller = cloudflare_key()
    answer = app.mint({"id": caller["id"], "pem": caller["pem"]})
    assert answer.status == 200
    assert claims_of(sensitive(answer.body["result"]["token"]), caller)["kid"] == caller["id"]
    assert double.requests == []


def test_a_callers_key_that_cannot_sign_is_a_400_naming_pem(app, double):
    import base64

    integer = bytes([0x02, 0x41, 0x00]) + b"\x01" * 64
    body = bytes([0x02, 0x01, 0x00]) + integer * 8
    der = bytes([0x30, 0x82]) + len(body).to_bytes(2, "big") + body
    pem = pkcs1_block(base64.encodebytes(der).decode()).encode()
    answer = app.mint({"id": "a" * 32, "pem": base64.b64encode(pem).decode()})
    assert answer.status == 400
    assert answer.error_pointers == ["/pem"]
    assert double.requests == []


def test_a_new_key_in_the_secret_is_used_once_the_secret_is_read_again(app, double, moto_endpoint, monkeypatch):
    from localdev.standins.stack import secrets_client

    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", "0")  # read the secret on every request
    first, second = cloudflare_key(), cloudflare_key()
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT} | secret_fields(first))
    import os

    arn = os.environ["CLOUDFLARE_SECRET_ARN"]
    assert claims_of(sensitive(app.mint({}).body["result"]["token"]), first)["kid"] == first["id"]
    secrets_client(moto_endpoint).put_secret_value(
        SecretId=arn, SecretString=json.dumps({"account_id": ACCOUNT} | secret_fields(second))
    )
    assert claims_of(sensitive(app.mint({}).body["result"]["token"]), second)["kid"] == second["id"]


def test_a_broken_key_in_the_secret_does_not_stop_api_mode(app, double, moto_endpoint, monkeypatch):
    fields = {"signing_key_id": "a" * 32, "signing_key_pem": "not a key"}
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | fields, "api")
    assert app.mint({}).status == 200
    assert len(double.token_requests()) == 1


def test_key_material_wrapped_in_lines_is_read(app, double, moto_endpoint, monkeypatch, key):
    wrapped = {
        name: "\n".join(v[i : i + 76] for i in range(0, len(v), 76)) + "\n" for name, v in secret_fields(key).items()
    }
    wrapped["signing_key_id"] = f" {key['id']}\n"
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT} | wrapped)
    answer = app.mint({})
    assert answer.status == 200
    assert claims_of(sensitive(answer.body["result"]["token"]), key)["kid"] == key["id"]
