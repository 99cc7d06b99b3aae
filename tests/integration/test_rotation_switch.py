"""The custom resource that turns the signing key's rotation on (issue 22, point 8): what
AWS::SecretsManager::RotationSchedule did, by a type the Serverless Application Repository accepts.

CloudFormation's side is played here: the function is invoked with its Create / Update / Delete
events and its answer is PUT to a loopback stand-in for the pre-signed ResponseURL. Secrets
Manager's side is botocore's Stubber (it checks each call against the service's API model), as moto
cannot rotate with a Lambda it does not run; with moto, the failure it answers must still reach
CloudFormation as FAILED rather than leave the stack waiting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from localdev.standins import stack
from localdev.standins.apigw import LambdaContext
from tests.support.aws_permissions import denied

ROTATION_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:stream-signed-urls-RotateSigningKey-AbC"


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback stand-in for CloudFormation's pre-signed response URL: the answers PUT to it."""
    answers: list[dict[str, Any]] = []

    class Answered(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # http.server's name for PUT
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answers.append(json.loads(body) | {"_content_type": self.headers.get("Content-Type")})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answered)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cloudformation-answer?X-Amz-Signature=abc", answers
    server.shutdown()


def event(request: str, secret_arn: str, url: str, schedule: str = "rate(30 days)") -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stream-signed-urls/1",
        "RequestId": "b3c5a7e0-0000-4000-8000-000000000001",
        "LogicalResourceId": "CloudflareSecretRotation",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:turn-on-rotation",
            "SecretId": secret_arn,
            "RotationLambdaARN": ROTATION_FUNCTION,
            "ScheduleExpression": schedule,
        },
    } | ({"PhysicalResourceId": f"{secret_arn}/rotation"} if request != "Create" else {})


@pytest.fixture
def stubbed(monkeypatch) -> Iterator[Stubber]:
    from stream_tokens.adapters.rotation_schedule import RotationSchedule
    from stream_tokens.runtime import custom_resource

    client = botocore.session.get_session().create_client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stubber:
        monkeypatch.setattr(custom_resource, "rotation_schedule", lambda: RotationSchedule(client))
        yield stubber
        stubber.assert_no_pending_responses()


def test_create_and_update_turn_rotation_on_with_a_rotation_at_once(function_env, secret_arn, response_url, stubbed):
    url, answers = response_url
    switch = stack.load_function("turn_on_rotation")
    for request, schedule in (("Create", "rate(30 days)"), ("Update", "cron(0 4 ? * SUN *)")):
        stubbed.add_response(
            "rotate_secret",
            {"ARN": secret_arn, "Name": "cloudflare", "VersionId": "v" * 32},
            {
                "SecretId": secret_arn,
                "RotationLambdaARN": ROTATION_FUNCTION,
                "RotationRules": {"ScheduleExpression": schedule},
                "RotateImmediately": True,
            },
        )
        switch.lambda_handler(event(request, secret_arn, url, schedule), LambdaContext())
    assert [(a["Status"], a["PhysicalResourceId"]) for a in answers] == [("SUCCESS", f"{secret_arn}/rotation")] * 2
    assert all(a["LogicalResourceId"] == "CloudflareSecretRotation" and a["Data"] == {} for a in answers)
    assert {a["_content_type"] for a in answers} == {""}  # the pre-signed URL's signature names no content type


def test_delete_turns_rotation_off_and_a_secret_already_gone_is_no_failure(
    function_env, secret_arn, response_url, stubbed
):
    url, answers = response_url
    switch = stack.load_function("turn_on_rotation")
    stubbed.add_response("cancel_rotate_secret", {"ARN": secret_arn}, {"SecretId": secret_arn})
    switch.lambda_handler(event("Delete", secret_arn, url), LambdaContext())
    stubbed.add_client_error(
        "cancel_rotate_secret", "ResourceNotFoundException", expected_params={"SecretId": secret_arn}
    )
    switch.lambda_handler(event("Delete", secret_arn, url), LambdaContext())
    assert [a["Status"] for a in answers] == ["SUCCESS", "SUCCESS"]


def test_a_refused_rotation_is_answered_failed_and_the_calls_are_the_roles(
    function_env, secret_arn, response_url, aws_call_record
):
    """Against moto, which refuses a rotation function it does not have: CloudFormation hears
    FAILED with the reason (no hung stack), and every call made is allowed by the role as written."""
    url, answers = response_url
    start = len(aws_call_record)
    stack.load_function("turn_on_rotation").lambda_handler(event("Create", secret_arn, url), LambdaContext())
    stack.load_function("turn_on_rotation").lambda_handler(event("Delete", secret_arn, url), LambdaContext())
    (failed, deleted) = answers
    assert failed["Status"] == "FAILED"
    assert "(ResourceNotFoundException) when calling the RotateSecret operation" in failed["Reason"]
    assert deleted["Status"] == "SUCCESS"
    calls = aws_call_record[start:]
    assert {(c.function, c.action) for c in calls} == {
        ("TurnOnRotationFunction", "secretsmanager:RotateSecret"),
        ("TurnOnRotationFunction", "secretsmanager:CancelRotateSecret"),
    }
    assert denied(calls) == []


def test_a_new_secret_is_a_new_resource_so_that_cloudformation_turns_the_old_ones_rotation_off(
    function_env, secret_arn, response_url, stubbed, monkeypatch
):
    url, answers = response_url
    other = secret_arn.rsplit(":", 1)[0] + ":another-Zz09Qq"
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", other)  # the stack updated to the new CloudflareSecretArn
    stubbed.add_response("rotate_secret", {"ARN": other}, None)
    update = event("Update", other, url) | {"PhysicalResourceId": f"{secret_arn}/rotation"}  # the old secret's
    stack.load_function("turn_on_rotation").lambda_handler(update, LambdaContext())
    assert [(a["Status"], a["PhysicalResourceId"]) for a in answers] == [("SUCCESS", f"{other}/rotation")]
    stubbed.add_client_error("cancel_rotate_secret", "InvalidRequestException", expected_params={"SecretId": other})
    stack.load_function("turn_on_rotation").lambda_handler(event("Delete", other, url), LambdaContext())
    assert answers[-1]["Status"] == "SUCCESS"  # a secret scheduled for deletion must not block the stack's
