"""One DynamoDB call as the call budget and the quotas make it: a plain signed request where the
setting is plain (aws_request.py: no botocore client on the cold path, as on Lambda), botocore's
client where it is not, or to name an error the plain answer did not settle.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from . import aws_request
from .aws_errors import error_code

CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbCalls:
    def __init__(self, timeout: tuple[float, float], env: Mapping[str, str] = os.environ) -> None:
        """`timeout`: (connect, read) seconds of each attempt (the client makes two)."""
        self.timeout = timeout
        self.env = env
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def plain(self) -> bool:
        return aws_request.is_plain(aws_request.DYNAMODB, self.env)

    def call(self, action: str, payload: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(None, the answer's Item) when it succeeded; else (the error's code, the Item DynamoDB
        returned with it: a failed condition's ALL_OLD)."""
        answer = aws_request.call(aws_request.DYNAMODB, action, payload, self.env, timeout=self.timeout)
        if answer is not None:
            status, body = answer
            item = body.get("Item")
            item = item if isinstance(item, dict) else {}
            if status == 200:
                return None, item
            if str(body.get("__type", "")).rsplit("#", 1)[-1] == CONDITION_FAILED:
                return CONDITION_FAILED, item
        return self._call_with_client(action, payload)

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import botocore.session  # noqa: PLC0415 - only when the plain request is not enough
                from botocore.config import Config  # noqa: PLC0415

                connect, read = self.timeout
                config = Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"mode": "standard", "total_max_attempts": 2},
                    max_pool_connections=4,
                )
                self._client = botocore.session.get_session().create_client("dynamodb", config=config)
            return self._client

    def _call_with_client(self, action: str, payload: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        from botocore import xform_name  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            answer = getattr(self.client(), xform_name(action))(**payload)
        except ClientError as exc:
            item = exc.response.get("Item")  # returned with ALL_OLD
            return (error_code(exc) or type(exc).__name__)[:64], item if isinstance(item, dict) else {}
        except BotoCoreError as exc:
            return type(exc).__name__, {}
        item = answer.get("Item")
        return None, item if isinstance(item, dict) else {}
