"""Browser callers: `make run` with ALLOWED_ORIGINS answers CORS as API Gateway does for the stack's
AllowedOrigins (a preflight answered without the function, CORS headers on cross-origin answers)."""

from __future__ import annotations

import pytest
import requests

from localdev.standins.examples import VIDEO
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run, stop

PAGE = "https://video.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_make_run_answers_preflights_and_cross_origin_mints_for_allowed_origins():
    port = free_port()
    process = start_make_run(port, {"ALLOWED_ORIGINS": f"{PAGE},https://other.example.com"})
    printed = []
    try:
        printed = read_banner(process)
        assert f"CORS: origins {PAGE}, https://other.example.com" in "".join(printed)
        url = f"http://127.0.0.1:{port}/videos/{VIDEO}/token"

        preflight = requests.options(url, headers={"Origin": PAGE, **PREFLIGHT}, timeout=10)
        assert preflight.status_code == 204
        assert preflight.content == b""
        assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
        assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
        allowed_headers = preflight.headers["Access-Control-Allow-Headers"].split(",")
        assert {"authorization", "content-type", "x-amz-date", "x-amz-security-token"} <= set(allowed_headers)
        assert preflight.headers["Access-Control-Max-Age"] == "600"

        minted = requests.post(url, json={"accessRules": []}, headers={"Origin": PAGE}, timeout=10)
        assert minted.status_code == 200, minted.text
        sensitive(minted.json()["result"]["token"])
        assert minted.headers["Access-Control-Allow-Origin"] == PAGE
        assert minted.headers["Access-Control-Expose-Headers"] == "retry-after"

        refused = requests.post(url, data="exp=1", headers={"Origin": PAGE}, timeout=10)
        assert refused.status_code == 400
        assert refused.headers["Access-Control-Allow-Origin"] == PAGE

        stranger = "https://evil.example.net"
        foreign = requests.options(url, headers={"Origin": stranger, **PREFLIGHT}, timeout=10)
        assert foreign.status_code == 204
        assert "Access-Control-Allow-Origin" not in foreign.headers
        foreign_mint = requests.post(url, headers={"Origin": stranger}, timeout=10)
        assert "Access-Control-Allow-Origin" not in foreign_mint.headers  # the browser keeps the answer from the page
        sensitive(foreign_mint.json()["result"]["token"])
    finally:
        stop(process, printed)


def test_without_allowed_origins_there_is_no_cors():
    port = free_port()
    process = start_make_run(port)
    printed = []
    try:
        printed = read_banner(process)
        assert "CORS: off" in "".join(printed)
        url = f"http://127.0.0.1:{port}/videos/{VIDEO}/token"
        preflight = requests.options(url, headers={"Origin": PAGE, **PREFLIGHT}, timeout=10)
        assert preflight.status_code == 404
        assert preflight.json() == {"message": "Not Found"}
        minted = requests.post(url, headers={"Origin": PAGE}, timeout=10)
        assert minted.status_code == 200
        assert "Access-Control-Allow-Origin" not in minted.headers
        sensitive(minted.json()["result"]["token"])
    finally:
        stop(process, printed)


@pytest.mark.parametrize(
    ("origins", "auth_mode", "says"),
    [
        ("http://video.example.com", None, "https://host"),
        ("https://video.example.com/", None, "without spaces or paths"),
        ("*", "JWT", "only for AuthMode NONE"),
    ],
)
def test_make_run_refuses_to_start_with_origins_the_stack_would_refuse(origins, auth_mode, says):
    """The same checks as the deployment's (AllowedOrigins' pattern, the AnyOriginOnlyWithoutAuth
    rule): `make run` prints CloudFormation's message and exits 2 before it listens."""
    extra = {"ALLOWED_ORIGINS": origins} | ({"AUTH_MODE": auth_mode} if auth_mode else {})
    process = start_make_run(free_port(), extra)
    output, _ = process.communicate(timeout=60)
    print(output)
    assert process.returncode == 2
    assert "ALLOWED_ORIGINS refused" in output
    assert says in output
    assert "Ctrl-C to stop" not in output


def test_make_run_allows_any_origin_when_told_the_api_has_no_authorization():
    port = free_port()
    process = start_make_run(port, {"ALLOWED_ORIGINS": "*", "AUTH_MODE": "NONE"})
    printed = []
    try:
        printed = read_banner(process)
        assert "CORS: origins *" in "".join(printed)
    finally:
        stop(process, printed)
