"""moto's server as `make run` and the tests start it answers as DynamoDB does where the package
relies on it: conditional writes to one item are applied one at a time (the shared Cloudflare
budget's guarantee rests on it)."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import moto.dynamodb.models.table
from botocore.config import Config
from botocore.exceptions import ClientError

from localdev.standins import stack, template
from stream_tokens.adapters import budget_table, table_item

WRITERS = 6
ROUNDS = 5
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})
KEY = {table_item.KEY_ATTRIBUTE: {"S": budget_table.BUDGET_KEY}}


def test_of_several_puts_conditioned_on_one_version_exactly_one_succeeds(moto_endpoint, monkeypatch):
    table = stack.create_budget_table(moto_endpoint, f"race-{uuid.uuid4().hex[:12]}")[template.BUDGET_TABLE_VARIABLE]
    parse = moto.dynamodb.models.table.get_filter_expression  # type: ignore[attr-defined]

    def slow_parse(*args: Any, **kwargs: Any) -> Any:  # moto checks the condition between its read and its write:
        time.sleep(0.05)  # widen that gap, so that unserialised writers would meet in it every round
        return parse(*args, **kwargs)

    monkeypatch.setattr(moto.dynamodb.models.table, "get_filter_expression", slow_parse)
    writers = [stack.aws_client("dynamodb", moto_endpoint, config=ONE_ATTEMPT) for _ in range(WRITERS)]
    winners = []
    for version in range(ROUNDS):
        writers[0].put_item(TableName=table, Item=KEY | {"version": {"S": str(version)}})
        barrier = threading.Barrier(WRITERS)
        with ThreadPoolExecutor(WRITERS) as pool:
            put = functools.partial(_put_if, table=table, version=str(version), barrier=barrier)
            answers = list(pool.map(put, writers))
        assert set(answers) <= {"written", "ConditionalCheckFailedException"}, answers
        winners.append(answers.count("written"))
    assert winners == [1] * ROUNDS


def _put_if(writer: Any, *, table: str, version: str, barrier: threading.Barrier) -> str:
    """Write if the stored version is still `version`: "written", or the error's code."""
    barrier.wait()
    try:
        writer.put_item(
            TableName=table,
            Item=KEY | {"version": {"S": f"{version}+{threading.get_ident()}"}},
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":v": {"S": version}},
        )
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "written"
