"""The entitlement sources over the wire: the table in moto's DynamoDB, the operator's function
through Lambda's Invoke API on loopback (botocore's real clients in both)."""

from __future__ import annotations

import time
import uuid

import pytest

from localdev.standins import stack
from localdev.standins.lambda_invoke import LambdaInvokeStandIn
from stream_tokens.adapters.entitlements import EntitlementFunction, EntitlementsTable
from stream_tokens.domain.callers import jwt_caller
from stream_tokens.domain.errors import EntitlementsUnavailable

VIDEOS = [f"{n:032x}" for n in range(1, 6)]
ALICE = jwt_caller({"sub": "alice", "cognito:groups": "[gold]"}, None)
BOB = jwt_caller({"sub": "bob"}, None)


def entitlements_table(endpoint: str) -> str:
    """A table shaped as template.yaml's EntitlementsTableResource."""
    name = f"entitlements-{uuid.uuid4().hex[:8]}"
    stack.dynamodb_client(endpoint).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "subject", "AttributeType": "S"},
            {"AttributeName": "video", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "subject", "KeyType": "HASH"}, {"AttributeName": "video", "KeyType": "RANGE"}],
    )
    return name


def put(endpoint: str, table: str, subject: str, video: str, expires_at: float | None = None) -> None:
    item = {"subject": {"S": subject}, "video": {"S": video}}
    if expires_at is not None:
        item["expires_at"] = {"N": str(int(expires_at))}
    stack.dynamodb_client(endpoint).put_item(TableName=table, Item=item)


def test_the_table_entitles_a_caller_and_their_groups_until_a_rental_expires(moto_endpoint, aws_calls):
    table = entitlements_table(moto_endpoint)
    put(moto_endpoint, table, "alice", VIDEOS[0])
    put(moto_endpoint, table, "group:gold", VIDEOS[1])
    put(moto_endpoint, table, "alice", VIDEOS[2], expires_at=time.time() - 1)  # a rental that ended
    put(moto_endpoint, table, "alice", VIDEOS[3], expires_at=time.time() + 3600)
    source = EntitlementsTable(table, client=stack.dynamodb_client(moto_endpoint))
    reads = aws_calls.count("DynamoDB_20120810.BatchGetItem")
    assert source.entitled(ALICE, VIDEOS, deadline=time.monotonic() + 5) == {VIDEOS[0], VIDEOS[1], VIDEOS[3]}
    assert source.entitled(BOB, VIDEOS, deadline=time.monotonic() + 5) == set()
    assert aws_calls.count("DynamoDB_20120810.BatchGetItem") == reads + 2  # one batched read per caller and request
    assert source.entitled(ALICE, VIDEOS[:2], deadline=time.monotonic() + 5) == {VIDEOS[0], VIDEOS[1]}
    assert aws_calls.count("DynamoDB_20120810.BatchGetItem") == reads + 2  # answered from the cache


def test_a_table_that_cannot_answer_refuses_rather_than_mints(moto_endpoint):
    source = EntitlementsTable("no-such-table", client=stack.dynamodb_client(moto_endpoint))
    with pytest.raises(EntitlementsUnavailable) as caught:
        source.entitled(ALICE, VIDEOS[:1], deadline=time.monotonic() + 5)
    assert caught.value.status == 503


def test_the_function_is_asked_once_for_what_it_has_not_answered_and_cached():
    def approve(event):
        return {"entitled": [v for v in event["videos"] if "gold" in event["caller"]["groups"]], "cacheSeconds": 60}

    with LambdaInvokeStandIn({"approve": approve}) as lambda_api:
        client = stack.aws_client("lambda", lambda_api.endpoint)
        source = EntitlementFunction("arn:aws:lambda:us-east-1:123456789012:function:approve", client)
        assert source.entitled(ALICE, VIDEOS[:2], deadline=time.monotonic() + 5) == set(VIDEOS[:2])
        assert source.entitled(ALICE, VIDEOS[:3], deadline=time.monotonic() + 5) == set(VIDEOS[:3])
        assert source.entitled(BOB, VIDEOS[:1], deadline=time.monotonic() + 5) == set()
        asked = [event["videos"] for _, event in lambda_api.invocations]
        assert asked == [VIDEOS[:2], VIDEOS[2:3], VIDEOS[:1]]  # each answer asked for once
        assert lambda_api.invocations[0][1]["caller"] | {"claims": {}} == {
            "id": "alice",
            "via": "jwt",
            "account": None,
            "scopes": [],
            "groups": ["gold"],
            "claims": {},
        }


@pytest.mark.parametrize("answer", [lambda event: 1 / 0, lambda event: {"allowed": []}, lambda event: "yes"])
def test_a_function_that_fails_or_answers_otherwise_refuses_rather_than_mints(answer):
    with LambdaInvokeStandIn({"approve": answer}) as lambda_api:
        source = EntitlementFunction("approve", stack.aws_client("lambda", lambda_api.endpoint))
        with pytest.raises(EntitlementsUnavailable):
            source.entitled(ALICE, VIDEOS[:1], deadline=time.monotonic() + 5)
