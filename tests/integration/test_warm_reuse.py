"""What a warm container reuses: the secret (read once per SecretMaxAgeSeconds), the connection to
Cloudflare, and the libraries it loaded; a batch is one log line. Behaviour, not timings: the
timings are `make bench`'s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from localdev.standins.apigw import AWS_ACCOUNT, iam_authorizer
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.signing_keys import secret_fields
from localdev.standins.stack import create_budget_table, create_secret, dynamodb_client
from localdev.standins.template import BUDGET_TABLE_VARIABLE
from stream_tokens.adapters import aws_request
from stream_tokens.adapters.budget_table import BUDGET_KEY
from stream_tokens.adapters.table_item import KEY_ATTRIBUTE
from tests.support.keys import sensitive_key
from tests.support.log_hygiene import sensitive

WARM = 100


def use_signing_key(monkeypatch, moto_endpoint: str) -> dict:
    key = sensitive_key()
    arn = create_secret(moto_endpoint, f"warm-{uuid.uuid4().hex}", {"account_id": ACCOUNT} | secret_fields(key))
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    return key


def test_warm_requests_through_the_api_read_the_secret_once_over_one_connection(app, double, aws_calls):
    reads, connections = aws_calls.secret_reads(), double.connections
    for _ in range(WARM):
        answer = app.mint({"accessRules": []})
        assert answer.status == 200, answer.body
    assert aws_calls.secret_reads() - reads == 1
    assert double.connections - connections == 1
    assert len(double.token_requests()) == WARM


def test_warm_locally_signed_requests_read_the_secret_once_and_call_nobody(
    app, double, aws_calls, moto_endpoint, monkeypatch
):
    use_signing_key(monkeypatch, moto_endpoint)
    reads = aws_calls.secret_reads()
    for _ in range(WARM):
        answer = app.mint({"accessRules": []})
        assert answer.status == 200, answer.body
        sensitive(answer.body["result"]["token"])
    assert aws_calls.secret_reads() - reads == 1
    assert double.requests == []
    assert double.connections == 0


def test_a_batch_is_a_log_line_per_token_naming_caller_rule_and_video_and_no_token(
    app, double, moto_endpoint, monkeypatch, capsys
):
    use_signing_key(monkeypatch, moto_endpoint)
    videos = [f"{i:032x}" for i in range(20)]
    capsys.readouterr()
    answer = app.post("/videos/tokens", {"requests": [{"identifier": video} for video in videos]})
    printed = capsys.readouterr().out
    print(printed, end="")  # kept in the test's captured output, which the log scan reads
    assert answer.status == 200
    tokens = [sensitive(item["result"]["token"]) for item in answer.body["result"]]
    issued = [json.loads(line) for line in printed.splitlines() if '"message":"token issued"' in line]
    assert [line["video_id"] for line in issued] == videos
    for line in issued:
        assert line["caller"] == {"id": iam_authorizer()["iam"]["userArn"], "via": "iam", "account": AWS_ACCOUNT}
        assert (line["rule"], line["issuer"], line["downloadable"], line["access_rules"]) == (
            "trusted-backends",
            "local",
            False,
            None,
        )
        assert line["exp"] == answer.body["result"][0]["result"]["expires_at"]
        assert line["service"] == "stream-signed-urls"
        assert "correlation_id" in line  # the API Gateway request id, as every line of the invocation
    assert not any(token in printed for token in tokens)


DRIVER = r"""
import json, sys
sys.path[:0] = sys.argv[1].split(":")
from localdev.standins.apigw import LambdaContext, http_api_event
import app
video = sys.argv[2]
event = http_api_event("POST", f"/videos/{video}/token", "{}", route_key="POST /videos/{identifier}/token",
                       path_parameters={"identifier": video})
answer = app.lambda_handler(event, LambdaContext())
heavy = ("requests", "jwt", "boto3", "aws_lambda_powertools.utilities.parameters",
         "stream_tokens.adapters.budget_table", "botocore.session", "botocore.client")
loaded = sorted(name for name in heavy if name in sys.modules)
print("RESULT " + json.dumps({"status": answer["statusCode"], "loaded": loaded}))
"""


def run_container(env: dict[str, str]) -> dict:
    """A fresh process that loads the HTTP function as Lambda does and answers one request (this
    machine's settings that Lambda does not make, such as AWS_CA_BUNDLE, left out)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = ":".join([f"{root}/functions/mint_http", f"{root}/layers/stream_tokens", root])
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, path, VIDEO],
        env={k: v for k, v in os.environ.items() if k not in aws_request._LEFT_TO_THE_CLIENT} | env,  # as on Lambda
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    print(done.stdout, done.stderr)  # for the log scan
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result: dict = json.loads(line.removeprefix("RESULT "))
    return result


def test_a_container_that_signs_locally_never_loads_requests_nor_the_budget_table(function_env, moto_endpoint):
    """Nor PyJWT (tokens are signed with cryptography directly), nor boto3 or Powertools' parameters
    (the secret is read with botocore): each would lengthen the cold start."""
    key = sensitive_key()
    arn = create_secret(moto_endpoint, f"lazy-{uuid.uuid4().hex}", {"account_id": ACCOUNT} | secret_fields(key))
    table = create_budget_table(moto_endpoint, f"lazy-{uuid.uuid4().hex[:12]}")
    assert run_container(function_env | table | {"CLOUDFLARE_SECRET_ARN": arn}) == {"status": 200, "loaded": []}


def test_a_container_that_calls_cloudflare_never_loads_the_signing_libraries(function_env, moto_endpoint):
    table = create_budget_table(moto_endpoint, f"lazy-{uuid.uuid4().hex[:12]}")
    assert "jwt" not in run_container(function_env | table | {"SIGNING_MODE": "api"})["loaded"]


def counted(moto_endpoint: str, table: dict[str, str]) -> int:
    """The calls to Cloudflare the budget table counts."""
    key = {KEY_ATTRIBUTE: {"S": BUDGET_KEY}}
    item = dynamodb_client(moto_endpoint).get_item(TableName=table[BUDGET_TABLE_VARIABLE], Key=key)["Item"]
    return sum(int(n["N"]) for n in item["calls"]["L"])


def test_an_api_mode_container_never_imports_boto3_nor_builds_a_botocore_client_in_a_plain_setting(
    function_env, moto_endpoint
):
    """The budget table's PutItem (and the secret's read) go as plain signed requests (aws_request.py):
    a botocore client, its service model and endpoints, were most of API mode's cold start."""
    table = create_budget_table(moto_endpoint, f"lazy-{uuid.uuid4().hex[:12]}")
    assert run_container(function_env | table | {"SIGNING_MODE": "api"}) == {
        "status": 200,
        "loaded": ["requests", "stream_tokens.adapters.budget_table"],  # no boto3, no botocore session or client
    }
    assert counted(moto_endpoint, table) == 1  # and the call was counted in the table


def test_where_the_setting_is_not_plain_the_budget_counts_through_botocores_client(function_env, moto_endpoint):
    table = create_budget_table(moto_endpoint, f"lazy-{uuid.uuid4().hex[:12]}")
    not_plain = {"AWS_USE_DUALSTACK_ENDPOINT": "false"}  # any such setting is left to the client
    answer = run_container(function_env | table | {"SIGNING_MODE": "api"} | not_plain)
    assert answer["status"] == 200
    assert {"botocore.client", "stream_tokens.adapters.budget_table"} <= set(answer["loaded"])
    assert "boto3" not in answer["loaded"]
    assert counted(moto_endpoint, table) == 1
