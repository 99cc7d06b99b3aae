"""The functions as Lambda runs them, seen from a test: the HTTP function invoked with API Gateway
v2 events (every answer checked against openapi.yaml), and what it printed (metrics, log lines)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from localdev.standins import stack
from localdev.standins.apigw import LambdaContext, http_api_event
from localdev.standins.examples import ACCOUNT, VIDEO
from tests.support import documented


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def error_pointers(self) -> list[str | None]:
        return [e.get("source", {}).get("pointer") for e in self.body["errors"]]

    @property
    def error_codes(self) -> list[int]:
        return [e["code"] for e in self.body["errors"]]


class MintApp:
    """The HTTP function in a fresh container, invoked with API Gateway v2 events."""

    def __init__(self) -> None:
        self.module = stack.load_function("mint_http")

    def invoke(self, event: dict[str, Any], timeout_seconds: float = 10.0) -> Answer:
        result = self.module.lambda_handler(event, LambdaContext(timeout_seconds=timeout_seconds))
        assert set(result) >= {"statusCode", "body"}, result
        body = json.loads(result["body"])
        assert set(body) == {"success", "errors", "messages", "result"}, body
        headers = {k.lower(): v for k, v in result.get("headers", {}).items()}
        documented.check(event, result["statusCode"], headers, body)
        return Answer(result["statusCode"], headers, body)

    def post(self, path: str, body: Any = None, **event_options: Any) -> Answer:
        """POST as API Gateway would deliver it: the matching route's key and path parameters, and
        the caller as the stack's default AuthMode (IAM) hands it over, unless another is given."""
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        return self.invoke(http_api_event("POST", path, raw, **event_options))

    def mint(self, body: Any = None, video: str = VIDEO, **event_options: Any) -> Answer:
        return self.post(f"/videos/{video}/token", body, **event_options)

    def mint_in_account(self, body: Any = None, account: str = ACCOUNT, video: str = VIDEO) -> Answer:
        return self.post(f"/accounts/{account}/stream/{video}/token", body)


def emf_records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric lines printed so far; the output is printed again, so that
    it stays in the test's captured output, which the log scan reads."""
    out = capsys.readouterr().out
    print(out, end="")
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


@contextmanager
def function_log_lines() -> Iterator[list[str]]:
    """The function's log lines while inside, formatted as Powertools writes them."""
    from stream_tokens.observability import logger

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
