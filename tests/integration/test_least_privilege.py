"""Least privilege that is also sufficient: every AWS call each function makes is allowed by its
role exactly as template.yaml writes it (tests/support/aws_permissions.py records the calls and
evaluates the role's statements). The paths here are each function's whole repertoire of AWS calls:
minting signed locally and through the API, a batch, direct invocation, a whole rotation; the last
test checks every call the rest of the suite made too."""

from __future__ import annotations

import copy
import time
import uuid

import pytest

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.signing_keys import secret_fields
from tests.integration.test_rotation import Rotator
from tests.support import aws_permissions
from tests.support.aws_permissions import AwsCall, decision, denied
from tests.support.function import MintApp
from tests.support.keys import sensitive_key
from tests.support.log_hygiene import sensitive

MINTING = {"secretsmanager:GetSecretValue"}
ROTATING = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
}


def actions(calls: list[AwsCall]) -> set[tuple[str, str]]:
    return {(call.function, call.action) for call in calls}


@pytest.fixture
def everything_minted(function_env, double, moto_endpoint, monkeypatch, aws_call_record) -> list[AwsCall]:
    """Each minting path once: the HTTP function through the API (one token, a batch) and signing
    locally, the direct function with one request and a list."""
    start = len(aws_call_record)
    app = MintApp()
    assert app.mint({"exp": int(time.time()) + 600}).status == 200
    batch = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}, {"identifier": VIDEO}]})
    assert batch.status == 200
    assert [item["success"] for item in batch.body["result"]] == [True, True]

    key = sensitive_key()
    fields = {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key)
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", stack.create_secret(moto_endpoint, f"key-{uuid.uuid4().hex}", fields))
    signed = MintApp().mint()
    assert signed.status == 200
    direct = stack.load_function("mint_direct")
    context = LambdaContext(function_name="mint-direct")
    assert "token" in direct.lambda_handler({"identifier": VIDEO}, context)
    listed = direct.lambda_handler([{"identifier": VIDEO}, {"identifier": VIDEO}], context)
    assert [item["success"] for item in listed] == [True, True]
    for token in [signed.body["result"]["token"], *(item["result"]["token"] for item in listed)]:
        sensitive(token)
    return aws_call_record[start:]


@pytest.fixture
def a_whole_rotation(function_env, moto_endpoint, monkeypatch, double, api_token, aws_call_record) -> list[AwsCall]:
    start = len(aws_call_record)
    fields = {"account_id": ACCOUNT, "api_token": api_token} | secret_fields(double.add_signing_key())
    arn = stack.create_secret(moto_endpoint, f"rotating-{uuid.uuid4().hex}", fields)
    env = template.function_environment(function_env | {"CLOUDFLARE_SECRET_ARN": arn}, "RotateSigningKeyFunction")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Rotator(arn, moto_endpoint).rotate()
    return aws_call_record[start:]


def test_every_call_of_every_minting_path_is_allowed_by_the_role_as_written(everything_minted):
    assert actions(everything_minted) == {("MintFunction", a) for a in MINTING} | {
        ("MintDirectFunction", a) for a in MINTING
    }
    assert denied(everything_minted) == []


def test_every_call_of_a_rotation_is_allowed_by_the_role_as_written(a_whole_rotation):
    assert actions(a_whole_rotation) == {("RotateSigningKeyFunction", a) for a in ROTATING}
    assert {call.resource for call in a_whole_rotation} == {dict(a_whole_rotation[0].given)["CloudflareSecretArn"]}
    assert denied(a_whole_rotation) == []


@pytest.mark.parametrize(
    ("function", "role", "action"),
    [
        ("MintFunction", "MintFunctionRole", "secretsmanager:GetSecretValue"),
        ("MintDirectFunction", "MintDirectFunctionRole", "secretsmanager:GetSecretValue"),
        ("RotateSigningKeyFunction", "RotateSigningKeyFunctionRole", "secretsmanager:PutSecretValue"),
        ("RotateSigningKeyFunction", "RotateSigningKeyFunctionRole", "secretsmanager:UpdateSecretVersionStage"),
    ],
)
def test_a_role_without_an_action_its_function_uses_fails_the_check(
    everything_minted, a_whole_rotation, function, role, action
):
    resources = copy.deepcopy(template.template()["Resources"])
    for policy in resources[role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in listed if a != action]
    refused = denied(everything_minted + a_whole_rotation, resources)
    assert {(call.function, call.action) for call, _ in refused} == {(function, action)}
    assert all(why == "no statement of its role allows it" for _, why in refused)


def test_a_statement_for_another_secret_or_a_deny_fails_the_check(everything_minted):
    call = next(c for c in everything_minted if c.function == "MintFunction")
    resources = copy.deepcopy(template.template()["Resources"])
    (statement,) = [
        s
        for p in resources["MintFunctionRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s["Action"] == "secretsmanager:GetSecretValue"
    ]
    statement["Resource"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:another-AbCdEf"
    assert decision(call, resources) == "no statement of its role allows it"
    statement["Resource"] = "arn:aws:secretsmanager:*:123456789012:secret:*"
    assert decision(call, resources) == "allowed"
    statement_list = resources["MintFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statement_list.append({"Effect": "Deny", "Action": "secretsmanager:Get*", "Resource": "*"})
    assert decision(call, resources).startswith("denied by")


def test_a_call_to_a_service_the_check_cannot_place_fails_it():
    call = AwsCall("MintFunction", "s3:GetObject", f"{aws_permissions.UNKNOWN}s3", ())
    assert decision(call).startswith(aws_permissions.UNKNOWN)


@pytest.mark.last
def test_every_aws_call_the_suite_made_was_allowed_by_the_role_as_written(aws_call_record):
    if not aws_call_record:
        pytest.skip("run with the integration tests: no function made an AWS call in this run")
    assert denied(aws_call_record) == []
    assert {call.function for call in aws_call_record} <= {
        "MintFunction",
        "MintDirectFunction",
        "RotateSigningKeyFunction",
        "TurnOnRotationFunction",  # issue 22: the custom resource that turns rotation on
    }


@pytest.mark.parametrize(
    "function", ["MintFunction", "MintDirectFunction", "RotateSigningKeyFunction", "TurnOnRotationFunction"]
)
def test_the_role_lets_lambda_write_the_functions_log_streams(function):
    """Calls Lambda makes with the role for the function (not recorded: the code does not make them),
    checked against the ARNs AWS documents: a log group's Arn attribute ends in ":*", and a stream
    is log-group:<name>:log-stream:<stream>."""
    group = template.template()["Resources"][f"{function}LogGroup"]["Properties"]["LogGroupName"]["!Sub"]
    name = group.replace("${AWS::StackName}", "stream-signed-urls")
    stream = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}:log-stream:2026/12/02/[$LATEST]0123abcd"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert decision(AwsCall(function, action, stream, ())) == "allowed"
    elsewhere = stream.replace(name, "/aws/lambda/another-function")
    assert decision(AwsCall(function, "logs:PutLogEvents", elsewhere, ())) == "no statement of its role allows it"


def test_the_direct_functions_role_lets_lambda_destinations_send_to_its_queues_and_nowhere_else():
    """Calls Lambda Destinations make with the direct function's role (issue 22): to its results and
    failure queues, never to an event bus."""
    queue = "arn:aws:sqs:us-east-1:123456789012:{}"
    for name in ("MintResultsQueue", "MintFailureQueue"):
        assert decision(AwsCall("MintDirectFunction", "sqs:SendMessage", queue.format(name), ())) == "allowed"
    elsewhere = AwsCall("MintDirectFunction", "sqs:SendMessage", queue.format("another-queue"), ())
    assert decision(elsewhere) == "no statement of its role allows it"
    default_bus = AwsCall(
        "MintDirectFunction", "events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default", ()
    )
    assert decision(default_bus) == "no statement of its role allows it"
