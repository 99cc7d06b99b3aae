"""The pieces the function runs against locally: moto's Secrets Manager and DynamoDB on loopback,
the secret, the Cloudflare call budget table, the Cloudflare double, and the function's own module
loaded as Lambda would load it."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from . import template
from .template import ROOT

REGION = "us-east-1"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """moto's server on a free loopback port; returns it and its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines on the console
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    werkzeug_server = server._server  # moto keeps its werkzeug server here; requests reach its .app
    assert werkzeug_server is not None
    werkzeug_server.app = DynamoDbOneAtATime(werkzeug_server.app)
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


class DynamoDbOneAtATime:
    """DynamoDB applies conditional writes to an item one at a time, each checked against the item
    as the write before it left it. moto 5.2.5's threaded server checks a condition and then writes,
    unlocked: under load, two PutItems conditioned on the same version both succeeded (seen in
    tests/integration/test_shared_budget.py, where it let the budget grant one call too many). This
    WSGI layer answers DynamoDB's requests one at a time, which restores DynamoDB's guarantee."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self._lock:
            return list(self.app(environ, start_response))  # the whole answer, made under the lock


class AwsCalls:
    """Counts the AWS API calls moto's server answers, by action (e.g. secretsmanager.GetSecretValue):
    a WSGI layer in front of moto's app."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            self._calls[environ.get("HTTP_X_AMZ_TARGET", "")] += 1
        return self.app(environ, start_response)

    def count(self, action: str) -> int:
        with self._lock:
            return self._calls[action]

    def secret_reads(self) -> int:
        return self.count("secretsmanager.GetSecretValue")


def count_calls(server: ThreadedMotoServer) -> AwsCalls:
    """Count the calls `server` answers from now on."""
    werkzeug_server = server._server  # moto keeps its werkzeug server here; requests reach its .app
    assert werkzeug_server is not None, "start() the server first"
    counter = AwsCalls(werkzeug_server.app)
    werkzeug_server.app = counter
    return counter


def aws_client(service: str, endpoint: str, config: Config | None = None) -> Any:
    """A boto3 client of `service` at moto's `endpoint`, with the fake credentials."""
    return boto3.client(  # type: ignore[call-overload]  # the stubs overload on each service's literal name
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def secrets_client(endpoint: str) -> Any:
    return aws_client("secretsmanager", endpoint)


def create_secret(endpoint: str, name: str, value: dict[str, Any] | str) -> str:
    """Store `value` (JSON-encoded unless already text) and return the secret's ARN."""
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = secrets_client(endpoint).create_secret(Name=name, SecretString=text)["ARN"]
    return arn


def dynamodb_client(endpoint: str) -> Any:
    return aws_client("dynamodb", endpoint)


def create_budget_table(endpoint: str, name: str) -> dict[str, str]:
    """The Cloudflare call budget table as template.yaml declares it (key, billing, TTL, encryption),
    in moto; returns the environment that points the functions at it."""
    declared = template.budget_table()
    client = dynamodb_client(endpoint)
    client.create_table(
        TableName=name,
        KeySchema=declared["KeySchema"],
        AttributeDefinitions=declared["AttributeDefinitions"],
        BillingMode=declared["BillingMode"],
        SSESpecification={
            "Enabled": bool(declared["SSESpecification"]["SSEEnabled"]),
            "SSEType": declared["SSESpecification"]["SSEType"],
        },
    )
    ttl = declared["TimeToLiveSpecification"]
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]}
    )
    return {template.BUDGET_TABLE_VARIABLE: name, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}


def create_policy_parameter(endpoint: str, name: str, document: str) -> dict[str, str]:
    """The minting policy `document` in an SSM parameter in moto, as an operator stores it (docs/policy.md);
    returns the environment that points the functions at it."""
    aws_client("ssm", endpoint).put_parameter(Name=name, Value=document, Type="String", Overwrite=True)
    return {"POLICY_PARAMETER": name, "AWS_ENDPOINT_URL_SSM": endpoint}


def load_function(name: str, *, layer_dir: Path | None = None, function_dir: Path | None = None) -> ModuleType:
    """Import functions/<name>/app.py with the layer on sys.path, as Lambda does.

    Each call gives a fresh module (a new container); the layer's cached objects are reset too.
    """
    layer = layer_dir or ROOT / "layers" / "stream_tokens"
    if str(layer) not in sys.path:
        sys.path.insert(0, str(layer))
    path = (function_dir or ROOT / "functions" / name) / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from aws_lambda_powertools.metrics.provider import cold_start

    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    cold_start.is_cold_start = True  # its first invocation is a cold start again (the ColdStart metric)
    return module


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
