"""One Cloudflare budget for the whole deployment: containers as separate processes sharing moto's
DynamoDB (the table as template.yaml declares it) and the Cloudflare double, which records when
every call arrived; and when DynamoDB fails, the static split if reserved concurrency bounds the
containers, else no call to Cloudflare at all (fail closed)."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext
from localdev.standins.cloudflare_double import Fault
from localdev.standins.examples import CUSTOMER_CODE, VIDEO
from stream_tokens import observability as o
from stream_tokens.adapters import aws_request, budget_table, shared_budget, table_item
from stream_tokens.domain import call_window
from tests.integration.test_warm_reuse import use_signing_key
from tests.support import aws_permissions
from tests.support.clock import Clock
from tests.support.function import MintApp, emf_records, function_log_lines

ROOT = Path(__file__).resolve().parents[2]
SHARE = 20  # calls in any 5 minutes, for the whole deployment
SCALE = 20.0  # the budget's and the double's clocks run this much faster: 5 minutes in 15 s
SPAN = call_window.SPAN_SECONDS
STARTUP_SECONDS = 6.0  # to start the processes and import the function, before they all begin


def scaled_clock(epoch: float):
    return lambda: epoch + (time.time() - epoch) * SCALE


@pytest.fixture
def budget_env(moto_endpoint: str, secret_arn: str, double: Any) -> dict[str, str]:
    """The function's environment as the template gives it, with a fresh budget table in moto, a
    share of SHARE calls, every token from the Cloudflare double."""
    table = stack.create_budget_table(moto_endpoint, f"calls-{uuid.uuid4().hex[:12]}")
    return template.function_environment(
        {
            "CLOUDFLARE_SECRET_ARN": secret_arn,
            "STREAM_CUSTOMER_CODE": CUSTOMER_CODE,
            "CLOUDFLARE_BASE_URL": double.base_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint,
            "SIGNING_MODE": "api",
            "UPSTREAM_CALLS_PER_5_MINUTES": str(SHARE),
            "UPSTREAM_BUDGET_CONTAINERS": "1",
            "CALLER_CLOUDFLARE_SHARE_PERCENT": "100",  # one caller may spend it all (its part: test_policy_http.py)
            **table,
        }
    )


def run_containers(
    env: dict[str, str],
    count: int,
    seconds: float,
    epoch: float,
    tmp_path: Path,
    functions: tuple[str, ...] = (),
    table_fails: bool = False,
) -> list[dict]:
    """`count` containers, each its own process, asking for tokens for `seconds` (from a common start,
    once their code is loaded) from the HTTP function (or `functions[i]`); their answers. Unless
    `table_fails`, a container the table failed fails the test."""
    start = time.time() + STARTUP_SECONDS
    until = start + seconds
    processes = []
    for i in range(count):
        results = str(tmp_path / f"{i}.json")
        spec = {"epoch": epoch, "scale": SCALE, "start": start, "until": until, "pause": 0.02, "results": results}
        spec["function"] = functions[i] if functions else "mint_http"
        with (tmp_path / f"{i}.log").open("w") as log:  # a file, not a pipe: a full pipe would stall it
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.budget_container", json.dumps(spec)],
                    cwd=ROOT,
                    env={
                        "PATH": os.environ.get("PATH", ""),
                        **stack.FAKE_AWS_ENV,
                        **env,
                        "POWERTOOLS_LOG_LEVEL": "INFO",
                    },
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    for i, process in enumerate(processes):
        process.wait(timeout=STARTUP_SECONDS + seconds + 60)
        output = (tmp_path / f"{i}.log").read_text()
        print(output)  # scanned for secrets with the rest of the suite's output
        assert process.returncode == 0, output[-2000:]
        if not table_fails:
            assert "budget table unavailable" not in output, "the table timed out: this test is about the table"
    return [{int(k): v for k, v in json.loads((tmp_path / f"{i}.json").read_text()).items()} for i in range(count)]


def test_a_flood_from_four_containers_never_sends_more_than_the_share_in_any_sliding_5_minutes(
    budget_env, double, tmp_path
):
    epoch = time.time()
    double.clock = scaled_clock(epoch)
    faults = [Fault(503, headers={"Retry-After": "0"}) for _ in range(6)]  # retries spend the budget too
    double.fail_next(*faults)
    answers = run_containers(budget_env, count=4, seconds=24, epoch=epoch, tmp_path=tmp_path)
    seen = (answers, [round(t - epoch) for t in double.call_times])  # what a failure shows
    statuses = {status for answer in answers for status in answer}
    assert statuses <= {200, 429, 502}, seen  # 502: a scripted 503 whose retry the budget refused
    assert sum(answer.get(502, 0) for answer in answers) <= len(faults), seen
    assert sum(answer.get(429, 0) for answer in answers) > 10 * SHARE, seen  # flooded far past the share
    assert double.most_calls_in_any_span(SPAN) == SHARE, seen  # the share, used in full, never more
    assert double.call_times[-1] - double.call_times[0] > SPAN  # the spans slid past a refill
    assert len(double.call_times) > SHARE  # and it was refilled


def test_one_container_alone_spends_the_whole_share(budget_env, double, tmp_path):
    epoch = time.time()
    double.clock = scaled_clock(epoch)
    [answers] = run_containers(budget_env, count=1, seconds=4, epoch=epoch, tmp_path=tmp_path)  # 80 s scaled
    assert answers[200] == SHARE
    assert answers[429] > 0
    assert len(double.call_times) == SHARE


def test_the_http_and_the_direct_function_spend_the_same_share(budget_env, double, tmp_path):
    epoch = time.time()
    double.clock = scaled_clock(epoch)
    answers = run_containers(
        budget_env, count=2, seconds=4, epoch=epoch, tmp_path=tmp_path, functions=("mint_http", "mint_direct")
    )
    assert sum(answer.get(200, 0) for answer in answers) == SHARE, answers  # not a share per function
    assert all(answer.get(429, 0) > 0 for answer in answers), answers  # both flooded past it
    assert len(double.call_times) == SHARE


# -- DynamoDB faults: the static split, a warning and a metric, never a 5xx --------------------
STATIC_BURST = 2  # SHARE / 300 s / 2 functions per second, a minute's worth as the burst


@pytest.fixture
def container(budget_env, monkeypatch) -> tuple[MintApp, Clock]:
    for name in aws_request._LEFT_TO_THE_CLIENT:  # a plain setting, as on Lambda (aws_request.py)
        monkeypatch.delenv(name, raising=False)
    for name, value in budget_env.items():
        monkeypatch.setenv(name, value)
    clock = Clock(time.time())
    monkeypatch.setattr(shared_budget, "wall_clock", clock)
    return MintApp(), clock


def stored_calls(endpoint: str, table: str) -> int:
    item = stack.dynamodb_client(endpoint).get_item(
        TableName=table, Key={table_item.KEY_ATTRIBUTE: {"S": budget_table.BUDGET_KEY}}
    )
    return sum(int(n["N"]) for n in item["Item"]["calls"]["L"]) if "Item" in item else 0


def fallbacks(capsys) -> list[str]:
    return [
        record[o.FALLBACK_REASON]
        for record in emf_records(capsys)
        if any(m["Name"] == o.BUDGET_STORE_FALLBACK for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]


def test_a_missing_table_falls_back_to_the_static_split_and_the_table_is_used_again_when_back(
    container, budget_env, moto_endpoint, double, capsys
):
    app, clock = container
    table = budget_env[template.BUDGET_TABLE_VARIABLE]
    assert [app.mint({}).status for _ in range(2)] == [200, 200]
    assert stored_calls(moto_endpoint, table) == 2
    client = stack.dynamodb_client(moto_endpoint)
    client.delete_table(TableName=table)
    with function_log_lines() as lines:
        answers = [app.mint({}) for _ in range(STATIC_BURST + 2)]
    assert [a.status for a in answers] == [200] * STATIC_BURST + [429, 429]  # never a 5xx
    warnings = [line for line in lines if "budget table unavailable" in line]
    assert len(warnings) == 1
    assert "ResourceNotFoundException" in warnings[0]
    assert fallbacks(capsys) == ["ResourceNotFoundException"]
    stack.create_budget_table(moto_endpoint, table)
    clock.now += shared_budget.RETRY_TABLE_SECONDS
    assert app.mint({}).status == 200
    assert stored_calls(moto_endpoint, table) == STATIC_BURST + 1  # the calls made meanwhile, recorded
    assert len(double.token_requests()) == 2 + STATIC_BURST + 1


def closed_port() -> str:
    """The URL of a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_unreachable_dynamodb_falls_back_at_once(container, monkeypatch, capsys):
    app, _ = container
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed_port())
    app = MintApp()
    assert [app.mint({}).status for _ in range(STATIC_BURST + 1)] == [200] * STATIC_BURST + [429]
    assert fallbacks(capsys) == ["EndpointConnectionError"]


# -- fail closed: without reserved concurrency, nothing bounds the static split -------------------
def test_without_reserved_concurrency_a_flood_on_an_unreachable_table_never_reaches_cloudflare(
    budget_env, double, tmp_path
):
    env = budget_env | {"UPSTREAM_BUDGET_CONTAINERS": "0", "AWS_ENDPOINT_URL_DYNAMODB": closed_port()}
    epoch = time.time()
    answers = run_containers(env, count=4, seconds=3, epoch=epoch, tmp_path=tmp_path, table_fails=True)
    assert all(set(answer) == {429} for answer in answers), answers  # each with a Retry-After (budget_container)
    assert sum(answer[429] for answer in answers) > 4 * STATIC_BURST  # more than the static split let through
    assert double.call_times == []


def test_with_reserved_concurrency_a_flood_on_an_unreachable_table_spends_the_static_split(
    budget_env, double, tmp_path
):
    containers = 4  # ReservedConcurrency: at most this many containers per function
    env = budget_env | {"UPSTREAM_BUDGET_CONTAINERS": str(containers), "AWS_ENDPOINT_URL_DYNAMODB": closed_port()}
    answers = run_containers(env, count=containers, seconds=3, epoch=time.time(), tmp_path=tmp_path, table_fails=True)
    assert all(set(answer) == {200, 429} for answer in answers), answers
    assert [answer[200] for answer in answers] == [1] * containers  # SHARE / 300 s / 2 / 4 a second: a burst of 1
    assert len(double.call_times) == containers <= SHARE // 2  # within the function's half of the share


def test_without_reserved_concurrency_a_missing_table_refuses_cloudflare_calls_not_local_signing(
    container, budget_env, moto_endpoint, monkeypatch, capsys
):
    app, _ = container
    monkeypatch.setenv("UPSTREAM_BUDGET_CONTAINERS", "0")
    monkeypatch.setenv("SIGNING_MODE", "auto")
    stack.dynamodb_client(moto_endpoint).delete_table(TableName=budget_env[template.BUDGET_TABLE_VARIABLE])
    with function_log_lines() as lines:
        refused = [app.mint({}) for _ in range(3)]
    assert [(a.status, a.error_codes) for a in refused] == [(429, [10005])] * 3
    assert all(0 < int(a.headers["retry-after"]) <= shared_budget.RETRY_CLOSED_SECONDS for a in refused)
    assert len([line for line in lines if "calls to Cloudflare refused" in line]) == 1
    assert fallbacks(capsys) == ["ResourceNotFoundException"]
    limited = [record[o.LIMITED_BY] for record in emf_records(capsys) if o.RATE_LIMITED in record]
    assert limited == [o.LIMITED_BY_BUDGET_STORE] * 3
    use_signing_key(monkeypatch, moto_endpoint)  # the secret now holds a signing key; the table is still gone
    assert app.mint({}).status == 200  # signed locally: the table is not asked


class ThrottleDynamoDb:
    """A WSGI layer in front of moto: every DynamoDB call answers ThrottlingException."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.throttled = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        self.throttled += 1
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
        return [json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException"}).encode()]


def test_a_throttled_table_falls_back_after_the_clients_bounded_retry(container, aws_calls, capsys):
    app, _ = container
    throttle = ThrottleDynamoDb(aws_calls.app)
    aws_calls.app = throttle
    try:
        assert app.mint({}).status == 200
    finally:
        aws_calls.app = throttle.app
    assert throttle.throttled == 1 + 2  # the plain request, then the client's total_max_attempts
    assert fallbacks(capsys) == ["ThrottlingException"]


# -- least privilege: the budget's DynamoDB calls, against the minting roles as template.yaml writes them
def test_the_budget_tables_calls_are_allowed_by_both_minting_roles_as_written(
    container, budget_env, moto_endpoint, aws_call_record
):
    app, _ = container
    start = len(aws_call_record)
    assert app.mint({}).status == 200  # PutItem: a new item
    item = {table_item.KEY_ATTRIBUTE: {"S": budget_table.BUDGET_KEY}}
    stack.dynamodb_client(moto_endpoint).delete_item(TableName=budget_env["UPSTREAM_BUDGET_TABLE"], Key=item)
    assert app.mint({}).status == 200  # PutItem on a version gone, no item in the answer: GetItem, PutItem
    direct = stack.load_function("mint_direct")
    assert "token" in direct.lambda_handler({"identifier": VIDEO}, LambdaContext(function_name="mint-direct"))
    calls = [call for call in aws_call_record[start:] if call.action.startswith("dynamodb:")]
    assert {(call.function, call.action) for call in calls} == {
        ("MintFunction", "dynamodb:PutItem"),
        ("MintFunction", "dynamodb:GetItem"),
        ("MintDirectFunction", "dynamodb:PutItem"),
    }
    assert aws_permissions.denied(calls) == []
    without_get = copy.deepcopy(template.template()["Resources"])
    for policy in aws_permissions.inline_policies(without_get["MintFunctionRole"]):
        for statement in policy["PolicyDocument"]["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in listed if a != "dynamodb:GetItem"]
    refused = aws_permissions.denied(calls, without_get)
    assert {(call.function, call.action) for call, _ in refused} == {("MintFunction", "dynamodb:GetItem")}
