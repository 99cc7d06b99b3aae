"""Shared fixtures: moto's Secrets Manager on loopback, the Cloudflare double, the function loaded
as Lambda loads it, and the log collector behind the "no secret in any log line" test."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext
from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE
from tests.support import aws_permissions
from tests.support.function import MintApp
from tests.support.keys import register_key
from tests.support.log_hygiene import SUITE_OUTPUT, sensitive

os.environ.update(stack.FAKE_AWS_ENV)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")  # so that debug lines are scanned for secrets too
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "StreamSignedUrls")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SUITE_OUTPUT.extend(content for _, content in report.sections)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: runs after every other test")


@pytest.fixture(scope="session", autouse=True)
def aws_call_record() -> Iterator[list[aws_permissions.AwsCall]]:
    """Every AWS call each function makes in the suite, for the least-privilege check."""
    with aws_permissions.recording() as calls:
        yield calls


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
    from localdev.standins.cloudflare_double import CloudflareDouble

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


OPEN_POLICY = {
    "version": 1,
    "rules": [
        {
            "name": "open",
            "callers": {"anyone": True},
            "videos": "any",
            "lifetime": {"max": 86400},
            "downloadable": True,
            "flags": True,
            "callerKeys": True,
        }
    ],
}
"""Anyone may mint anything: for tests of what minting does with a request, not of who may."""


@pytest.fixture
def open_policy(function_env: dict[str, str], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The functions' environment with OPEN_POLICY in an SSM parameter and a 24 h ceiling."""
    name = f"/stream-signed-urls/test-{uuid.uuid4().hex}"
    env = stack.create_policy_parameter(moto_endpoint, name, json.dumps(OPEN_POLICY))
    env["MAX_TOKEN_LIFETIME_SECONDS"] = "86400"
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return function_env | env


@pytest.fixture
def open_policy_file(tmp_path: Any) -> str:
    """OPEN_POLICY in a file, for `POLICY=... make run`."""
    path = tmp_path / "open-policy.json"
    path.write_text(json.dumps(OPEN_POLICY))
    return str(path)


@pytest.fixture
def app(function_env: dict[str, str]) -> MintApp:
    return MintApp()


@pytest.fixture
def direct(function_env: dict[str, str]) -> Callable[..., Any]:
    """The direct function as Lambda invokes it: `direct(payload)` is its answer (whose tokens the
    log scan then looks for)."""
    module = stack.load_function("mint_direct")

    def invoke(payload: Any, timeout_seconds: float = 10.0) -> Any:
        result = module.lambda_handler(
            payload, LambdaContext(function_name="mint-direct", timeout_seconds=timeout_seconds)
        )
        items = result if isinstance(result, list) else [result]
        for item in items:
            token = item.get("token") or ((item.get("result") or {}).get("token") if isinstance(item, dict) else None)
            if token:
                sensitive(token)
        return result

    return invoke
