"""Shared fixtures: moto's Secrets Manager on loopback, the Cloudflare double, the function loaded
as Lambda loads it, and the log collector behind the "no secret in any log line" test."""

from __future__ import annotations

import json
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from localdev import stack, template
from localdev.apigw import LambdaContext, http_api_event
from tests import documented
from tests.keys import register_key
from tests.log_hygiene import SUITE_OUTPUT, sensitive

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"  # the account the events in events/ name
VIDEO = "ea95132c15732412d22c1476fa83f27a"
CUSTOMER_CODE = "f33zs165nr7gyfy4"

os.environ.update(stack.FAKE_AWS_ENV)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")  # so that debug lines are scanned for secrets too
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "StreamSignedUrls")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SUITE_OUTPUT.extend(content for _, content in report.sections)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: runs after every other test")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[tuple[str, stack.AwsCalls]]:
    server, endpoint = stack.start_moto()
    calls = stack.count_calls(server)
    os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint
    yield endpoint, calls
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: tuple[str, stack.AwsCalls]) -> str:
    return moto_server[0]


@pytest.fixture
def aws_calls(moto_server: tuple[str, stack.AwsCalls]) -> stack.AwsCalls:
    """The AWS calls moto has answered (a running count shared by the session: compare before and after)."""
    return moto_server[1]


@pytest.fixture
def api_token() -> str:
    return sensitive(secrets.token_urlsafe(30))


@pytest.fixture
def double(api_token: str) -> Iterator[Any]:
    from localdev.cloudflare_double import CloudflareDouble

    with CloudflareDouble(ACCOUNT, api_token=api_token) as cloudflare:
        yield cloudflare
        for token in cloudflare.issued_tokens:
            sensitive(token)
        for key in cloudflare.created_keys:
            register_key(key)
        assert cloudflare.violations == [], "requests Cloudflare's schema or a careful client would refuse"


@pytest.fixture
def secret_arn(moto_endpoint: str, api_token: str) -> str:
    return stack.create_secret(
        moto_endpoint, f"cloudflare-{uuid.uuid4().hex}", {"account_id": ACCOUNT, "api_token": api_token}
    )


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, secret_arn: str, double: Any) -> dict[str, str]:
    """The environment template.yaml gives the function, pointed at moto and the double."""
    env = template.function_environment(
        {
            "CLOUDFLARE_SECRET_ARN": secret_arn,
            "STREAM_CUSTOMER_CODE": CUSTOMER_CODE,
            "CLOUDFLARE_BASE_URL": double.base_url,
            "UPSTREAM_READ_TIMEOUT_SECONDS": "1",
            "UPSTREAM_CALLS_PER_5_MINUTES": "1000000000",  # the rate budget has tests of its own
        }
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    return env


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
        """POST as API Gateway would deliver it: the matching route's key and path parameters."""
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        for route in template.routes():
            params = route.match("POST", path)
            if params is not None:
                event_options.setdefault("route_key", route.key)
                event_options.setdefault("path_parameters", params)
        return self.invoke(http_api_event("POST", path, raw, **event_options))

    def mint(self, body: Any = None, video: str = VIDEO) -> Answer:
        return self.post(f"/videos/{video}/token", body)

    def mint_in_account(self, body: Any = None, account: str = ACCOUNT, video: str = VIDEO) -> Answer:
        return self.post(f"/accounts/{account}/stream/{video}/token", body)


@pytest.fixture
def app(function_env: dict[str, str]) -> MintApp:
    return MintApp()


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
