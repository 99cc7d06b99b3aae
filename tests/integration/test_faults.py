"""Whatever Cloudflare or Secrets Manager does, the function answers with its documented status,
before the function's own timeout, after a counted and bounded number of attempts."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from localdev.standins.apigw import http_api_event
from localdev.standins.cloudflare_double import Fault
from localdev.standins.examples import ACCOUNT, VIDEO
from stream_tokens.domain.errors import ConfigurationError
from tests.support.log_hygiene import sensitive

FUNCTION_TIMEOUT = 10.0  # seconds; connect timeout 2 s, read timeout 1 s (function_env), two retries at most
OK: dict[str, Any] = {
    "success": True,
    "errors": [],
    "messages": [],
    "result": {"token": "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmVkLWJ5LXRoZS1mYXVsdC1tYXRyaXg"},
}
sensitive(OK["result"]["token"])  # scripted, but a token all the same: the log scan looks for it
RATE_LIMITED = {
    "success": False,
    "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}],
    "messages": [],
    "result": None,
}


@dataclass(frozen=True)
class Case:
    faults: tuple[Fault, ...]
    status: int
    message: str  # part of the first error's message
    attempts: int  # requests Cloudflare saw
    retry_after: str | None = None
    within: float = FUNCTION_TIMEOUT  # the answer comes before this many seconds


def times(fault: Fault, n: int = 3) -> tuple[Fault, ...]:
    return (fault,) * n


MATRIX = {
    "429, Retry-After 1, then a token": Case(
        (Fault(429, RATE_LIMITED, {"Retry-After": "1"}), Fault(200, OK)), 200, "", 2
    ),
    "429, Retry-After 1, three times": Case(
        times(Fault(429, RATE_LIMITED, {"Retry-After": "1"})), 429, "Please wait", 3, "1"
    ),
    "429, Retry-After 300: answered at once": Case(
        (Fault(429, RATE_LIMITED, {"Retry-After": "300"}),), 429, "Please wait", 1, "300", 1.0
    ),
    "429 without Retry-After": Case(times(Fault(429, RATE_LIMITED)), 429, "Please wait", 3, "300"),
    "429 with an unreadable Retry-After, then a token": Case(
        (Fault(429, None, {"Retry-After": "soon"}), Fault(200, OK)), 200, "", 2
    ),
    "500 three times": Case(times(Fault(500)), 502, "Cloudflare failed with HTTP 500", 3),
    "502 three times": Case(times(Fault(502, "<html><body>502 Bad Gateway</body></html>")), 502, "HTTP 502", 3),
    "503 three times": Case(times(Fault(503)), 502, "HTTP 503", 3),
    "503, then a token": Case((Fault(503), Fault(200, OK)), 200, "", 2),
    "408, then a token": Case((Fault(408), Fault(200, OK)), 200, "", 2),
    "409, then a token": Case((Fault(409), Fault(200, OK)), 200, "", 2),
    "slower than the read timeout": Case(times(Fault(200, OK, delay=1.5)), 504, "did not answer in time", 3),
    "connection reset mid-body": Case((Fault(200, OK, cut_body=True),), 502, "could not reach Cloudflare", 1),
    "connection dropped three times": Case(times(Fault(drop=True)), 502, "could not reach Cloudflare", 3),
    "connection dropped, then a token": Case((Fault(drop=True), Fault(200, OK)), 200, "", 2),
    "200 with invalid JSON": Case((Fault(200, '{"success": tru'),), 502, "without a token", 1),
    "200 with an HTML page": Case((Fault(200, "<html><h1>Cloudflare</h1></html>"),), 502, "without a token", 1),
    "200 with success false": Case(
        (Fault(200, {"success": False, "errors": [], "messages": [], "result": None}),), 502, "without a token", 1
    ),
    "200 without a token": Case(
        (Fault(200, {"success": True, "errors": [], "messages": [], "result": {}}),), 502, "without a token", 1
    ),
    "200 with a JSON list": Case((Fault(200, [1, 2]),), 502, "without a token", 1),
    "400 with Cloudflare's errors": Case(
        (
            Fault(
                400,
                {"success": False, "errors": [{"code": 10005, "message": "bad exp"}], "messages": [], "result": None},
            ),
        ),
        400,
        "bad exp",
        1,
    ),
    "404 from Cloudflare": Case(
        (
            Fault(
                404,
                {"success": False, "errors": [{"code": 10003, "message": "Not Found"}], "messages": [], "result": None},
            ),
        ),
        404,
        "Not Found",
        1,
    ),
}


@pytest.mark.parametrize("case", MATRIX.values(), ids=MATRIX.keys())
def test_cloudflare_fault_matrix(app, double, case):
    double.fail_next(*case.faults)
    started = time.monotonic()
    answer = app.invoke(http_api_event("POST", f"/videos/{VIDEO}/token", "{}"), timeout_seconds=FUNCTION_TIMEOUT)
    elapsed = time.monotonic() - started
    assert answer.status == case.status, answer.body
    assert len(double.token_requests()) == case.attempts
    assert elapsed < case.within - 0.25, elapsed  # the answer leaves before the function's timeout
    if case.status != 200:
        assert case.message in answer.body["errors"][0]["message"]
        assert answer.body["result"] is None
        assert "Traceback" not in json.dumps(answer.body)
    assert answer.headers.get("retry-after") == case.retry_after


def test_connection_refused(app, double, monkeypatch):
    import requests.adapters

    attempts: list = []
    send = requests.adapters.HTTPAdapter.send

    def counted(self, request, **kwargs):  # each attempt is one request sent through the session's adapter
        attempts.append(request.url)
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counted)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{closed_port}/client/v4")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    started = time.monotonic()
    answer = app.invoke(http_api_event("POST", f"/videos/{VIDEO}/token", "{}"), timeout_seconds=FUNCTION_TIMEOUT)
    assert answer.status == 502
    assert "could not reach Cloudflare" in answer.body["errors"][0]["message"]
    assert time.monotonic() - started < FUNCTION_TIMEOUT - 0.25
    assert len(attempts) == 3  # the call and two retries


def test_a_function_about_to_time_out_makes_no_call(app, double):
    answer = app.invoke(http_api_event("POST", f"/videos/{VIDEO}/token", "{}"), timeout_seconds=0.3)
    assert answer.status == 504
    assert double.requests == []


# -- Secrets Manager ---------------------------------------------------------------------------


@set_initial_no_auth_action_count(3)
@mock_aws
def test_access_denied_to_the_secret_is_a_configuration_error(app, double, monkeypatch, caplog):
    """moto enforcing IAM: the function's credentials may not read the secret."""
    iam = boto3.client("iam")
    iam.create_user(UserName="mint-function")
    key = iam.create_access_key(UserName="mint-function")["AccessKey"]
    arn = boto3.client("secretsmanager").create_secret(
        Name="cloudflare", SecretString=json.dumps({"account_id": ACCOUNT, "api_token": double.api_token})
    )["ARN"]
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")  # this test's Secrets Manager is moto in-process
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    answer = app.mint({})
    assert answer.status == 500
    assert answer.body["errors"] == [{"code": 10010, "message": ConfigurationError.PUBLIC_MESSAGE}]
    details = [getattr(r, "detail", "") for r in caplog.records if r.levelname == "ERROR"]
    assert any("not authorized to perform: secretsmanager:GetSecretValue" in d for d in details), details
    assert double.requests == []
    assert os.environ["AWS_ACCESS_KEY_ID"] == key["AccessKeyId"]


def test_no_retry_starts_that_could_not_finish_before_the_function_times_out(app, double):
    double.fail_next(*times(Fault(200, OK, delay=1.5)))
    started = time.monotonic()
    answer = app.invoke(http_api_event("POST", f"/videos/{VIDEO}/token", "{}"), timeout_seconds=3.5)
    assert answer.status == 504
    assert len(double.token_requests()) == 1  # after 1 s, a second attempt (2 s + 1 s) would not fit in 3.25 s
    assert time.monotonic() - started < 3.5


# -- Cloudflare's rate limit, kept by this deployment ------------------------------------------


def use_budget(monkeypatch, calls_per_5_minutes: int) -> None:
    """One container's share: calls / 300 s / 2 functions; a minute's worth as the burst."""
    monkeypatch.setenv("UPSTREAM_CALLS_PER_5_MINUTES", str(calls_per_5_minutes))
    monkeypatch.setenv("UPSTREAM_BUDGET_CONTAINERS", "1")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()


def test_a_flood_beyond_the_deployments_share_never_reaches_cloudflare(app, double, monkeypatch):
    use_budget(monkeypatch, 60)  # 0.1 call/s for this container, a burst of 6
    answers = [app.mint({}) for _ in range(10)]
    assert [a.status for a in answers] == [200] * 6 + [429] * 4
    assert len(double.token_requests()) == 6
    limited = answers[-1]
    assert "share of Cloudflare's API rate limit" in limited.body["errors"][0]["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 10


def test_a_batch_stops_at_the_share_too(app, double, monkeypatch):
    use_budget(monkeypatch, 60)
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 10})
    assert sorted(i["success"] for i in answer.body["result"]) == [False] * 4 + [True] * 6
    assert len(double.token_requests()) == 6


def test_retries_are_paid_from_the_share(app, double, monkeypatch):
    use_budget(monkeypatch, 20)  # a burst of 2 calls
    double.fail_next(*times(Fault(500)))
    assert app.mint({}).status == 502
    assert len(double.token_requests()) == 2  # the call and one retry: the second retry had no budget


class SpendingLog:
    """A share that never runs out, writing each call it grants into `events`."""

    def __init__(self, events: list) -> None:
        self.events = events

    def take(self) -> float:
        self.events.append("call")
        return 0.0

    def used_percent(self) -> float:
        return 0.0


def test_a_retrys_call_is_spent_after_its_backoff_right_before_it_is_sent(double, monkeypatch):
    from stream_tokens.adapters.cloudflare_api import CloudflareStreamApi
    from stream_tokens.domain.call_limits import CallLimits

    events: list = []

    def sleep(seconds: float) -> None:  # the retry's wait (time.sleep): noted, not waited
        events.append(("sleep", seconds))

    monkeypatch.setattr(time, "sleep", sleep)
    double.fail_next(Fault(503, headers={"Retry-After": "0"}), Fault(503, headers={"Retry-After": "0"}))
    api = CloudflareStreamApi(
        double.base_url, connect_timeout=2, read_timeout=2, max_retries=3, calls=SpendingLog(events)
    )
    token = api.create_token(
        ACCOUNT, VIDEO, {}, {"Authorization": f"Bearer {double.api_token}"}, CallLimits(time.monotonic() + 10)
    )
    assert token.count(".") == 2
    # Retry-After: 0 means the backoff (0, then 1 s); each call is spent after its wait, so the
    # budget's clock and Cloudflare's agree on when the call was made
    assert events == ["call", "call", ("sleep", 1.0), "call"]
    assert len(double.token_requests()) == 3


def test_a_retry_the_share_cannot_pay_for_is_not_sent_and_says_so(app, double, monkeypatch):
    use_budget(monkeypatch, 20)  # a burst of 2 calls
    double.fail_next(*times(Fault(503, headers={"Retry-After": "0"})))
    answer = app.mint({})
    assert answer.status == 502
    assert "no call left for a retry" in answer.body["errors"][0]["message"]
    assert len(double.token_requests()) == 2


def test_local_signing_is_not_limited(app, double, moto_endpoint, monkeypatch):
    from localdev.standins.signing_keys import secret_fields
    from localdev.standins.stack import create_secret
    from tests.support.keys import sensitive_key

    monkeypatch.setenv(
        "CLOUDFLARE_SECRET_ARN",
        create_secret(moto_endpoint, f"k-{time.time_ns()}", {"account_id": ACCOUNT} | secret_fields(sensitive_key())),
    )
    use_budget(monkeypatch, 1)
    answers = [app.mint({}) for _ in range(20)]
    assert {a.status for a in answers} == {200}
    assert double.requests == []


def test_with_the_deployed_timeouts_a_hung_cloudflare_is_a_504_before_the_function_times_out(app, double, monkeypatch):
    """The template's own numbers: connect 2 s, read 3 s, two retries, a 15 s function."""
    from localdev.standins import template

    deployed = template.function_environment({})
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT_SECONDS", deployed["UPSTREAM_READ_TIMEOUT_SECONDS"])
    monkeypatch.setenv("UPSTREAM_CONNECT_TIMEOUT_SECONDS", deployed["UPSTREAM_CONNECT_TIMEOUT_SECONDS"])
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    timeout = template.function_timeout()
    double.fail_next(*times(Fault(200, OK, delay=4.0)))
    started = time.monotonic()
    answer = app.invoke(http_api_event("POST", f"/videos/{VIDEO}/token", "{}"), timeout_seconds=timeout)
    assert answer.status == 504
    assert len(double.token_requests()) == 3
    assert time.monotonic() - started < timeout - 0.25
