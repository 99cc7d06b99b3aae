"""The policy as users meet it: `AUTH_MODE=JWT make run` as a subprocess, real bearer tokens from
`make jwt`'s module, requests over loopback (bounded: a few dozen, each with a timeout)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from localdev.standins.examples import VIDEO
from localdev.standins.template import ROOT
from tests.support.log_hygiene import sensitive
from tests.support.make_run import bearer_token, free_port, read_banner, start_make_run, stop

OTHER = "0123456789abcdef0123456789abcdef"


class JwtApi:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def token(self, sub: str = "viewer-1", **settings: Any) -> str:
        return bearer_token(self.port, SUB=sub, **{k.upper(): str(v) for k, v in settings.items()})

    def mint(self, token: str | None, video: str = VIDEO, body: Any = None) -> requests.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        answer = requests.post(f"{self.url}/videos/{video}/token", json=body or {}, headers=headers, timeout=10)
        if answer.status_code == 200:
            sensitive(answer.json()["result"]["token"])
        return answer


@pytest.fixture(scope="module")
def jwt_api() -> Iterator[JwtApi]:
    port = free_port()
    settings = {"AUTH_MODE": "JWT", "JWT_SCOPES": "stream/mint,openid", "JWT_QUOTA_TOKENS": "3"}
    process = start_make_run(port, settings)
    printed: list[str] = []
    try:
        printed = read_banner(process)
        assert "Authorization: JWT" in "".join(printed), printed
        yield JwtApi(port)
        process.terminate()  # SIGTERM, as Ctrl-C: make run stops and removes the key's file
        process.wait(timeout=30)
    finally:
        stop(process, printed)
    assert not (ROOT / ".localdev" / f"jwt-issuer-{port}.json").exists()  # the key's file goes with it


def claims(*videos: str) -> str:
    return json.dumps({"stream_videos": " ".join(videos)})


def test_without_a_valid_token_api_gateways_own_401(jwt_api):
    assert jwt_api.mint(None).status_code == 401
    assert jwt_api.mint(None).json() == {"message": "Unauthorized"}
    for bad in (
        jwt_api.token(scopes="openid", claims=claims(VIDEO), expires_in=-30),  # expired
        jwt_api.token(scopes="openid", claims=claims(VIDEO), aud="someone-else"),  # another audience
    ):
        assert jwt_api.mint(bad).status_code == 401


def test_a_token_without_the_routes_scopes_is_api_gateways_403(jwt_api):
    answer = jwt_api.mint(jwt_api.token(scopes="profile", claims=claims(VIDEO)))
    assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})


def test_an_entitled_viewer_mints_and_another_video_is_refused_naming_the_rule(jwt_api):
    token = jwt_api.token(sub="viewer-a", scopes="openid", claims=claims(VIDEO))
    minted = jwt_api.mint(token)
    assert minted.status_code == 200, minted.text
    refused = jwt_api.mint(token, video=OTHER)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == 10017
    assert "'jwt-callers'" in refused.json()["errors"][0]["message"]
    assert jwt_api.mint(token, body={"downloadable": True}).status_code == 403


def test_an_array_claim_in_the_token_arrives_in_api_gateways_form_and_still_entitles(jwt_api):
    token = jwt_api.token(sub="viewer-b", scopes="stream/mint", claims=json.dumps({"stream_videos": [OTHER, VIDEO]}))
    assert jwt_api.mint(token).status_code == 200
    assert jwt_api.mint(token, video=OTHER).status_code == 200


def test_a_viewers_quota_is_spent_then_429_with_retry_after(jwt_api):
    token = jwt_api.token(sub="viewer-c", scopes="openid", claims=claims(VIDEO))
    answers = [jwt_api.mint(token) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["errors"][0]["code"] == 10018
    assert int(answers[3].headers["Retry-After"]) >= 1


def test_a_policy_that_does_not_parse_never_loads(tmp_path):
    broken = tmp_path / "policy.json"
    broken.write_text('{"version": 1, "rules": [{"name": "everyone", "callers": {"anyone": true}}]}')  # no videos
    port = free_port()
    process = start_make_run(port, {"POLICY": str(broken)})
    printed: list[str] = []
    try:
        printed = read_banner(process)
        answer = requests.post(f"http://127.0.0.1:{port}/videos/{VIDEO}/token", json={}, timeout=10)
        assert answer.status_code == 500  # fails closed, never the built-in policy or no policy
        assert answer.json()["errors"][0]["message"] == "The service is misconfigured; the operator has been told."
    finally:
        stop(process, printed)
