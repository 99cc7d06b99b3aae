"""The deployment's Cloudflare call counts in a DynamoDB table: one item, written with a
conditional PutItem on its version (how the versions chain: docs/design/budget-window.md).

Through one signed request (aws_request.py) where the setting is plain, as on Lambda: a botocore
client (its service model, its endpoints) cost most of an API-mode cold start. The client is made
only where the request is not plain, or to name an error the plain answer did not settle.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..domain.call_limits import CallBudget, CallSpender
from ..domain.call_window import CallCounts
from .aws_errors import error_code
from .dynamodb_calls import CONDITION_FAILED, DynamoDbCalls
from .shared_budget import BudgetStoreUnavailable, SharedCallBudget
from .table_item import KEY_ATTRIBUTE, TTL_ATTRIBUTE

if TYPE_CHECKING:  # botocore's client is imported only when the plain request is not enough
    from botocore.exceptions import ClientError

CONNECT_TIMEOUT_SECONDS = 0.5  # DynamoDB's, per attempt (two attempts): then the static share or a refusal
READ_TIMEOUT_SECONDS = 0.5
BUDGET_KEY = "cloudflare-api-calls"


class DynamoDbCallCounts:
    """The counts in a DynamoDB table (one item), by plain signed requests, else a client made on first use."""

    def __init__(self, table_name: str, env: Mapping[str, str] = os.environ) -> None:
        self.table_name = table_name
        self.calls = DynamoDbCalls((CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS), env)
        if not self.calls.plain:
            # now, as a first call to Cloudflare is about to be made: not inside the time a take()
            # counts; a failure here is made again on first use, where it means the fallback
            with contextlib.suppress(Exception):
                self.calls.client()

    def swap(self, expected: CallCounts, new: CallCounts, expires_at: int) -> CallCounts | None:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": KEY_ATTRIBUTE}}
            if not expected.version
            else {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": {"S": expected.version}},
            }
        )
        payload = {
            "TableName": self.table_name,
            "Item": _item(new, expires_at),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **condition,
        }
        failed, old = self.calls.call("PutItem", payload)
        if failed is None:
            return None
        if failed != CONDITION_FAILED:
            raise BudgetStoreUnavailable(failed[:64])
        return _counts(old) if old else self._read()

    def _read(self) -> CallCounts:
        """The stored counts (a lost race whose answer carried no item: maybe there is none)."""
        key = {KEY_ATTRIBUTE: {"S": BUDGET_KEY}}
        failed, item = self.calls.call("GetItem", {"TableName": self.table_name, "Key": key, "ConsistentRead": True})
        if failed is not None:
            raise BudgetStoreUnavailable(failed[:64])
        return _counts(item) if item else CallCounts()


def _item(counts: CallCounts, expires_at: int) -> dict[str, Any]:
    return {
        KEY_ATTRIBUTE: {"S": BUDGET_KEY},
        "version": {"S": counts.version},
        "first": {"N": str(counts.first)},
        "calls": {"L": [{"N": str(n)} for n in counts.calls]},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
    }


def _counts(item: Mapping[str, Any]) -> CallCounts:
    try:
        return CallCounts(item["version"]["S"], int(item["first"]["N"]), tuple(int(n["N"]) for n in item["calls"]["L"]))
    except (KeyError, TypeError, ValueError):
        raise BudgetStoreUnavailable("UnreadableItem") from None


def _reason(exc: ClientError) -> str:
    return (error_code(exc) or type(exc).__name__)[:64]


def shared_call_budget(table_name: str, share: int, static: CallBudget, *, bounded: bool) -> CallSpender:
    """The deployment-wide budget of `share` calls in any 5 minutes when a table is named; else
    `static` alone (this container's static split). While the table fails, `static` stands in if
    reserved concurrency `bounded` the containers; otherwise the calls are refused (fail closed)."""
    if not table_name:
        return static
    from functools import partial  # noqa: PLC0415

    from ..observability import budget_store_fallback  # noqa: PLC0415

    return SharedCallBudget(
        share,
        DynamoDbCallCounts(table_name),
        static if bounded else None,
        on_fallback=partial(budget_store_fallback, static_share=bounded),
    )
