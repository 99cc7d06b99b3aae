"""The first read of the secret as one signed request (adapters/aws_request.py), against moto's
Secrets Manager on loopback; the botocore client for everything else."""

from __future__ import annotations

import json
import uuid
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session

from localdev.standins.examples import ACCOUNT
from localdev.standins.stack import FAKE_AWS_ENV, create_secret
from stream_tokens.adapters import aws_request
from stream_tokens.adapters.secrets_manager import SecretsManagerCredentials
from stream_tokens.domain.errors import ConfigurationError
from tests.support.log_hygiene import sensitive

PLAIN = FAKE_AWS_ENV | {"AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.fixture
def plain_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    """As Lambda sets the environment up (this machine's own AWS_CA_BUNDLE and proxies removed)."""
    for name in aws_request._LEFT_TO_THE_CLIENT + ("AWS_ENDPOINT_URL",):
        monkeypatch.delenv(name, raising=False)
    for name, value in (FAKE_AWS_ENV | {"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint}).items():
        monkeypatch.setenv(name, value)


def test_the_first_read_is_one_signed_request_and_builds_no_client(plain_env, moto_endpoint, aws_calls, monkeypatch):
    token = sensitive(uuid.uuid4().hex)
    arn = create_secret(moto_endpoint, f"plain-{uuid.uuid4().hex}", {"account_id": ACCOUNT, "api_token": token})
    monkeypatch.setattr(botocore.session, "get_session", lambda: pytest.fail("a client was built"))
    reads = aws_calls.secret_reads()
    assert SecretsManagerCredentials(arn, 300).get().api_token == token
    assert aws_calls.secret_reads() == reads + 1


def test_what_the_plain_request_cannot_read_goes_to_the_client_which_names_the_error(plain_env):
    missing = SecretsManagerCredentials("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", 300)
    with pytest.raises(ConfigurationError) as caught:
        missing.get()
    assert "ResourceNotFoundException" in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "target"),
    [
        ({}, ("https://secretsmanager.eu-west-1.amazonaws.com/", "eu-west-1")),
        ({"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000"}, ("http://127.0.0.1:5000/", "eu-west-1")),
        ({"AWS_DEFAULT_REGION": "cn-north-1"}, None),
        ({"AWS_DEFAULT_REGION": "us-gov-west-1"}, None),
        ({"AWS_DEFAULT_REGION": ""}, None),
        ({"AWS_SECRET_ACCESS_KEY": ""}, None),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, None),
        ({"AWS_PROFILE": "other"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, None),
    ],
)
def test_only_a_plain_setting_is_read_without_the_client(changes, target):
    assert aws_request._plain_target(aws_request.SECRETS_MANAGER, PLAIN | changes) == target


def test_the_signed_request_is_the_one_botocores_client_makes(monkeypatch):
    """Same method, URL, body, target and credential scope as the client's own request (the
    signature itself is botocore's SigV4 signer's)."""
    sent: list[Any] = []

    def capture(self: Any, request: Any) -> None:
        sent.append(request)
        raise ConnectionError("captured")

    monkeypatch.setattr(URLLib3Session, "send", capture)
    secret_id = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cf-AbCdEf"
    assert aws_request.secret_string(secret_id, PLAIN) is None  # no answer: the client's turn
    for name, value in PLAIN.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    client: Any = botocore.session.get_session().create_client("secretsmanager", region_name="eu-west-1")

    def answer(request: Any, **_: Any) -> Any:
        sent.append(request)
        return _answer(request.url)

    client.meta.events.register("before-send", answer)
    client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    ours, theirs = sent
    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert json.loads(ours.body) == json.loads(theirs.body)
    for header in ("X-Amz-Target", "Content-Type", "X-Amz-Security-Token"):
        assert _text(ours.headers[header]) == _text(theirs.headers[header])
    assert _scope(ours) == _scope(theirs) == ["testing", "eu-west-1", "secretsmanager", "aws4_request"]


def _answer(url: str) -> Any:
    class Raw:
        def stream(self, **_: Any) -> Any:
            yield b'{"Name": "cf", "SecretString": "{}"}'

    headers: Any = {}
    return AWSResponse(url, 200, headers, Raw())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _scope(request: Any) -> list[str]:
    credential = _text(request.headers["Authorization"]).split("Credential=")[1].split(",")[0]
    key, _date, *scope = credential.split("/")
    return [key, *scope]
