"""`flags` (`{"original": bool}`), the field Cloudflare's newer SDKs send: accepted, forwarded to
Cloudflare as sent, carried as sent in a locally signed token, through the handler, the local HTTP
API, Cloudflare's Python SDK and `make run` in both signing modes."""

from __future__ import annotations

import json
import signal
import time

import cloudflare
import jwt
import pytest
import requests
from cloudflare import Cloudflare

from localdev.standins import template
from localdev.standins.cloudflare_double import CloudflareDouble
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.local_api import LocalHttpApi
from localdev.standins.signing_keys import public_key, secret_fields
from tests.integration.test_local_signing import claims_of, use_secret
from tests.support.keys import sensitive_key
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run, stop

pytestmark = pytest.mark.usefixtures("open_policy")  # what minting does, not who may

SENT = [{"original": True}, {"original": False}, {}]
SENT_IDS = ["original", "not-original", "empty"]


@pytest.mark.parametrize("flags", SENT, ids=SENT_IDS)
def test_a_locally_signed_token_carries_the_flags_as_sent(app, double, moto_endpoint, monkeypatch, flags):
    key = sensitive_key()
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key))
    answer = app.mint({"flags": flags, "downloadable": True})
    assert answer.status == 200, answer.body
    claims = claims_of(sensitive(answer.body["result"]["token"]), key)
    assert claims["flags"] == flags
    assert claims["downloadable"] is True
    assert double.requests == []


def test_a_locally_signed_token_without_flags_has_no_flags_claim(app, double, moto_endpoint, monkeypatch):
    key = sensitive_key()
    use_secret(monkeypatch, moto_endpoint, {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key))
    answer = app.mint({})
    assert "flags" not in claims_of(sensitive(answer.body["result"]["token"]), key)


@pytest.mark.parametrize("flags", SENT, ids=SENT_IDS)
def test_in_api_mode_cloudflare_receives_the_flags_as_sent(app, double, flags):
    answer = app.mint({"flags": flags})
    assert answer.status == 200, answer.body
    sent = double.token_requests()[0].body  # the double's schema check (with the SDKs' flags) refused nothing
    assert sent["flags"] == flags
    assert set(sent) == {"exp", "nbf", "flags"}


def test_bad_flags_never_reach_cloudflare(app, double):
    for flags, pointer in (({"original": "yes"}, "/flags/original"), ({"colour": "red"}, "/flags/colour")):
        answer = app.mint({"flags": flags})
        assert answer.status == 400
        assert answer.error_pointers == [pointer]
    assert double.requests == []


@pytest.mark.parametrize(
    ("flags", "accepted"),
    [
        ({"original": True}, True),
        ({}, True),
        ({"original": "yes"}, False),
        ({"colour": "red"}, False),
        ("original", False),
    ],
)
def test_the_cloudflare_double_accepts_flags_as_the_sdks_define_them_and_nothing_else(flags, accepted):
    cloudflare_double = CloudflareDouble(ACCOUNT, api_token="t" * 40)
    status, _, _ = cloudflare_double.handle(
        "POST",
        f"/client/v4/accounts/{ACCOUNT}/stream/{VIDEO}/token",
        {"authorization": "Bearer " + "t" * 40, "content-type": "application/json"},
        json.dumps({"flags": flags}).encode(),
    )
    assert (status == 200) is accepted
    assert (cloudflare_double.violations == []) is accepted
    for token in cloudflare_double.issued_tokens:
        sensitive(token)


def test_the_cloudflare_double_still_refuses_unknown_fields():
    cloudflare_double = CloudflareDouble(ACCOUNT, api_token="t" * 40)
    status, _, _ = cloudflare_double.handle(
        "POST",
        f"/client/v4/accounts/{ACCOUNT}/stream/{VIDEO}/token",
        {"authorization": "Bearer " + "t" * 40, "content-type": "application/json"},
        json.dumps({"flags": {"original": True}, "colour": "red"}).encode(),
    )
    assert status == 400
    assert "unknown field 'colour'" in cloudflare_double.violations[0]


def test_cloudflares_python_sdk_sends_flags_through_the_local_api_to_cloudflare(app, double, monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "NONE")  # as make run: no authorizer in front
    api = LocalHttpApi(app.module.lambda_handler, template.routes(), port=0).start()
    try:
        client = Cloudflare(api_token="not-used-by-the-local-api", base_url=api.url, max_retries=0)
        result = client.stream.token.create(VIDEO, account_id=ACCOUNT, flags={"original": True})
        assert result is not None
        assert result.token
        sensitive(result.token)
        assert double.token_requests()[0].body["flags"] == {"original": True}
        with pytest.raises(cloudflare.BadRequestError) as refused:
            client.stream.token.create(VIDEO, account_id=ACCOUNT, flags={"original": "yes"})  # type: ignore[arg-type]
        assert refused.value.response.json()["errors"][0]["source"] == {"pointer": "/flags/original"}
    finally:
        api.stop()


@pytest.mark.parametrize("mode", ["auto", "api"])
def test_cloudflares_python_sdk_sends_flags_to_make_run(mode, open_policy_file):
    port = free_port()
    process = start_make_run(port, {"SIGNING_MODE": mode, "POLICY": open_policy_file})
    printed: list[str] = []
    try:
        printed = read_banner(process)
        client = Cloudflare(api_token="not-used-by-the-local-api", base_url=f"http://127.0.0.1:{port}", max_retries=0)
        exp = int(time.time()) + 600
        result = client.stream.token.create(VIDEO, account_id=ACCOUNT, exp=exp, flags={"original": True})
        assert result is not None
        assert result.token
        token = sensitive(result.token)
        if mode == "auto":  # signed by make run with the generated key whose public JWK it printed
            jwk = next(json.loads(line) for line in printed if line.strip().startswith('{"kty"'))
            claims = jwt.decode(token, public_key(jwk), algorithms=["RS256"])
            assert claims["flags"] == {"original": True}
            assert claims["exp"] == exp
        else:  # minted by make run's Cloudflare double, which refuses (400) a body its schema does not allow
            assert isinstance(jwt.decode(token, options={"verify_signature": False})["exp"], str)
        refused = requests.post(
            f"http://127.0.0.1:{port}/videos/{VIDEO}/token", json={"flags": {"colour": "red"}}, timeout=10
        )
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["source"] == {"pointer": "/flags/colour"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)
