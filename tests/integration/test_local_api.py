"""The local API (`make run`): real HTTP on loopback into the real handler, Cloudflare's own SDK
pointed at it, and `make run` itself started, used and stopped."""

from __future__ import annotations

import json
import re
import shlex
import signal
import time
from pathlib import Path

import cloudflare
import jwt
import pytest
import requests
from cloudflare import Cloudflare

from localdev.standins import template
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.local_api import LocalHttpApi
from localdev.standins.signing_keys import public_key
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run, stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_api(app, open_policy, monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "NONE")  # as make run: no authorizer in front
    api = LocalHttpApi(app.module.lambda_handler, template.routes(), port=0).start()
    yield api
    api.stop()


def test_http_requests_become_events_for_the_handler(local_api, double):
    answer = requests.post(f"{local_api.url}/videos/{VIDEO}/token", json={"downloadable": True}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    sensitive(answer.json()["result"]["token"])
    assert set(answer.json()["result"]["urls"]) == {"iframe", "hls", "dash", "thumbnail", "mp4"}
    refused = requests.post(f"{local_api.url}/videos/{VIDEO}/token", data="exp=1", timeout=10)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["source"] == {"pointer": ""}


def test_paths_matching_no_route_get_api_gateways_own_404(local_api, double):
    answer = requests.get(f"{local_api.url}/nothing/here", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == {"message": "Not Found"}
    assert double.requests == []


def test_cloudflares_python_sdk_works_against_this_api(local_api, double):
    client = Cloudflare(api_token="not-used-by-the-local-api", base_url=local_api.url, max_retries=0)
    exp = int(time.time()) + 900
    result = client.stream.token.create(VIDEO, account_id=ACCOUNT, exp=exp, downloadable=True)
    assert result is not None
    assert result.token
    sensitive(result.token)
    assert double.issued_tokens == [result.token]
    assert double.token_requests()[0].body["exp"] == exp
    with pytest.raises(cloudflare.PermissionDeniedError) as refused:
        client.stream.token.create(VIDEO, account_id="f" * 32)
    assert refused.value.status_code == 403


def test_make_run_serves_prints_a_working_curl_and_stops_on_sigterm():
    port = free_port()
    process = start_make_run(port)
    printed = []
    try:
        printed = read_banner(process)
        banner = "".join(printed)
        assert f"http://127.0.0.1:{port}" in banner, banner
        curl = next(line.strip() for line in printed if line.strip().startswith("curl") and "/videos/" in line)
        args = shlex.split(curl)
        url = next(a for a in args if a.startswith("http://"))
        body = args[args.index("-d") + 1] if "-d" in args else None
        answer = requests.post(url, data=body, timeout=10)
        assert answer.status_code == 200, answer.text
        token = sensitive(answer.json()["result"]["token"])
        # signed locally with the generated key, whose public JWK the banner printed
        jwk = next(json.loads(line) for line in printed if line.strip().startswith('{"kty"'))
        claims = jwt.decode(token, public_key(jwk), algorithms=["RS256"])
        assert claims["sub"] == url.split("/")[-2]
        assert claims["kid"] == jwk["kid"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)


def test_make_run_with_cloudflare_credentials_calls_that_api_with_them(double):
    port = free_port()
    process = start_make_run(
        port,
        {
            "CLOUDFLARE_API_TOKEN": double.api_token,
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "CLOUDFLARE_BASE_URL": double.base_url,
        },
    )
    printed = []
    try:
        printed = read_banner(process)
        banner = "".join(printed)
        assert f"the real Cloudflare API at {double.base_url}" in banner
        assert "<VIDEO_ID>" in banner  # the example video is not in a real account
        answer = requests.post(f"http://127.0.0.1:{port}/accounts/{ACCOUNT}/stream/{VIDEO}/token", timeout=10)
        assert answer.status_code == 200, answer.text
        assert double.issued_tokens == [answer.json()["result"]["token"]]
        assert double.token_requests()[0].headers["authorization"] == f"Bearer {double.api_token}"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)


def test_make_run_in_api_mode_says_so_and_calls_the_double():
    port = free_port()
    process = start_make_run(port, {"SIGNING_MODE": "api"})
    printed = []
    try:
        printed = read_banner(process)
        banner = "".join(printed)
        assert "Tokens come from Cloudflare's API (SIGNING_MODE=api)" in banner
        assert '{"kty"' not in banner
        answer = requests.post(f"http://127.0.0.1:{port}/videos/{VIDEO}/token", timeout=10)
        token = sensitive(answer.json()["result"]["token"])
        claims = jwt.decode(token, options={"verify_signature": False})
        assert isinstance(claims["exp"], str)  # minted the way Cloudflare mints: exp as a string
        # the call was counted in the deployment's budget table, made in moto from template.yaml
        moto = re.search(r"moto at (http://[0-9.:]+);", banner)
        assert moto is not None, banner
        moto_endpoint = moto.group(1)
        from localdev import run
        from localdev.standins import stack
        from stream_tokens.adapters.budget_table import BUDGET_KEY
        from stream_tokens.adapters.table_item import KEY_ATTRIBUTE

        item = stack.dynamodb_client(moto_endpoint).get_item(
            TableName=run.BUDGET_TABLE, Key={KEY_ATTRIBUTE: {"S": BUDGET_KEY}}
        )["Item"]
        assert sum(int(n["N"]) for n in item["calls"]["L"]) >= 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)
