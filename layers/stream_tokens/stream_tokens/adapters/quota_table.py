"""Quotas counted across containers, in the deployment's DynamoDB table (the Cloudflare budget's).

An item per caller's quota and window (`quota#<rule>#<caller>#<window start>`), counted by one
conditional UpdateItem: ADD the tokens asked for unless that would pass the quota. When it would,
the item's count (DynamoDB returns it with the refusal) says how many still fit, and a second
UpdateItem takes those. Items expire with their window (the table's TTL). Windows: `quotas.window_of`.
A table that cannot answer refuses: QuotaUnavailable (503), never a token past a quota.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.errors import QuotaUnavailable
from ..domain.policy import Quota, Spent
from . import aws_request
from .aws_errors import error_code
from .quotas import window_of
from .table_item import KEY_ATTRIBUTE, TTL_ATTRIBUTE

USED = "used"
_CONDITION_FAILED = "ConditionalCheckFailedException"


class QuotaTable:
    def __init__(self, table: str, clock: Callable[[], float] = time.time, env: Mapping[str, str] = os.environ):
        self.table = table
        self._clock = clock
        self._env = env
        self._client: Any = None
        self._lock = threading.Lock()

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
        failed, old = self._update(payload)
        if failed is None:
            return None
        if failed != _CONDITION_FAILED:
            raise QuotaUnavailable(f"the quota table failed: {failed}")
        return int(old.get(USED, {}).get("N", tokens))

    def _update(self, payload: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(None, {}) when updated; else (the error's code, the item as it was, if DynamoDB returned it)."""
        answer = aws_request.call(aws_request.DYNAMODB, "UpdateItem", payload, self._env)
        if answer is not None:
            status, body = answer
            if status == 200:
                return None, {}
            code = str(body.get("__type", "")).rsplit("#", 1)[-1]
            if code == _CONDITION_FAILED:
                return code, body.get("Item") or {}
        return self._update_with_client(payload)

    def _update_with_client(self, payload: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self._dynamodb().update_item(**payload)
        except ClientError as exc:
            item = exc.response.get("Item")  # returned with ALL_OLD
            return error_code(exc) or "ClientError", item if isinstance(item, dict) else {}
        except BotoCoreError as exc:
            return type(exc).__name__, {}
        return None, {}

    def _dynamodb(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore.session  # noqa: PLC0415 - only when the plain request was not enough

                self._client = botocore.session.get_session().create_client("dynamodb")
            return self._client
