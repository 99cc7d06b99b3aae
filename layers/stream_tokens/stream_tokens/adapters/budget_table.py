"""The deployment's Cloudflare call counts in a DynamoDB table: one item, written with a
conditional PutItem on its version (how the versions chain: docs/design/budget-window.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..domain.call_limits import CallBudget, CallSpender
from ..domain.call_window import CallCounts
from .aws_errors import error_code
from .shared_budget import BudgetStoreUnavailable, SharedCallBudget
from .table_item import KEY_ATTRIBUTE, TTL_ATTRIBUTE

if TYPE_CHECKING:  # botocore is imported when the first call is made
    from botocore.exceptions import ClientError

CONNECT_TIMEOUT_SECONDS = 0.5  # DynamoDB's, per attempt (two attempts): then the static share
READ_TIMEOUT_SECONDS = 0.5
BUDGET_KEY = "cloudflare-api-calls"


class DynamoDbCallCounts:
    """The counts in a DynamoDB table (one item), through a client made on first use."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._client: Any = None
        self._client_lock = threading.Lock()
        try:  # now, as a first call to Cloudflare is about to be made: not inside the time a take() counts
            self.client()
        except Exception:  # made again on first use, where a failure means the fallback
            self._client = None

    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3  # noqa: PLC0415 - only once a call to Cloudflare is about to be made
                from botocore.config import Config  # noqa: PLC0415

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "total_max_attempts": 2},
                    max_pool_connections=4,
                )
                self._client = boto3.client("dynamodb", config=config)
            return self._client

    def swap(self, expected: CallCounts, new: CallCounts, expires_at: int) -> CallCounts | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": KEY_ATTRIBUTE}}
            if not expected.version
            else {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": {"S": expected.version}},
            }
        )
        try:
            self.client().put_item(
                TableName=self.table_name,
                Item=_item(new, expires_at),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition,
            )
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise BudgetStoreUnavailable(_reason(exc)) from None
            item = exc.response.get("Item")
            return _counts(item) if isinstance(item, dict) and item else self._read()
        except BotoCoreError as exc:
            raise BudgetStoreUnavailable(type(exc).__name__) from None

    def _read(self) -> CallCounts:
        """The stored counts (a lost race whose answer carried no item: maybe there is none)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            answer = self.client().get_item(
                TableName=self.table_name, Key={KEY_ATTRIBUTE: {"S": BUDGET_KEY}}, ConsistentRead=True
            )
        except ClientError as exc:
            raise BudgetStoreUnavailable(_reason(exc)) from None
        except BotoCoreError as exc:
            raise BudgetStoreUnavailable(type(exc).__name__) from None
        item = answer.get("Item")
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
