"""Quotas counted across containers, in the deployment's DynamoDB table (the Cloudflare budget's).

An item per caller's quota and window (`quota#<rule>#<caller>#<window start>`), counted by one
conditional UpdateItem: ADD the tokens asked for unless that would pass the quota. When it would,
the item's count (DynamoDB returns it with the refusal) says how many still fit, and a second
UpdateItem takes those. Items expire with their window (the table's TTL). Windows: `quotas.window_of`.
A table that cannot answer refuses: QuotaUnavailable (503), never a token past a quota.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from ..domain.errors import QuotaUnavailable
from ..domain.policy import Quota, Spent
from .dynamodb_calls import CONDITION_FAILED, DynamoDbCalls
from .quotas import window_of
from .table_item import KEY_ATTRIBUTE, TTL_ATTRIBUTE

USED = "used"
QUOTA_TIMEOUT = (1.0, 1.0)  # DynamoDB answers in milliseconds; the client tries once more after it


class QuotaTable:
    def __init__(self, table: str, clock: Callable[[], float] = time.time, env: Mapping[str, str] = os.environ):
        self.table = table
        self._clock = clock
        self._calls = DynamoDbCalls(QUOTA_TIMEOUT, env)

    def take(self, key: str, count: int, quota: Quota) -> Spent:
        start, left = window_of(self._clock(), quota)
        item = f"{key}#{start}"
        expires = start + quota.window_seconds + 60
        used = self._add(item, count, quota.tokens, expires)
        if used is None:
            return Spent(count)
        room = quota.tokens - used
        if room > 0 and self._add(item, room, quota.tokens, expires) is None:
            return Spent(room, left)
        return Spent(0, left)

    def _add(self, item: str, count: int, tokens: int, expires: int) -> int | None:
        """Add `count` to the item unless it would pass `tokens`: None when added, else the count it has."""
        payload = {
            "TableName": self.table,
            "Key": {KEY_ATTRIBUTE: {"S": item}},
            "UpdateExpression": "ADD #used :count SET #expires = :expires",
            "ConditionExpression": "attribute_not_exists(#used) OR #used <= :most",
            "ExpressionAttributeNames": {"#used": USED, "#expires": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":count": {"N": str(count)},
                ":most": {"N": str(tokens - count)},
                ":expires": {"N": str(expires)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        failed, old = self._calls.call("UpdateItem", payload)
        if failed is None:
            return None
        if failed != CONDITION_FAILED:
            raise QuotaUnavailable(f"the quota table failed: {failed}")
        return int(old.get(USED, {}).get("N", tokens))
