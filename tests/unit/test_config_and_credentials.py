"""Configuration from the environment, and the Secrets Manager adapter (moto in-process)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from localdev.standins.examples import ACCOUNT
from stream_tokens.adapters.secrets_manager import SecretsManagerCredentials
from stream_tokens.domain.credentials import CloudflareCredentials
from stream_tokens.domain.errors import ConfigurationError
from stream_tokens.runtime.config import DEFAULT_BASE_URL, Settings

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cf-AbCdEf"


def test_settings_defaults_and_overrides():
    settings = Settings.from_env({"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc123"})
    assert settings == Settings(secret_id=ARN, customer_code="abc123")
    assert settings.cloudflare_base_url == DEFAULT_BASE_URL
    custom = Settings.from_env(
        {
            "CLOUDFLARE_SECRET_ARN": ARN,
            "STREAM_CUSTOMER_CODE": "abc123",
            "MAX_TOKEN_LIFETIME_SECONDS": "3600",
            "SECRET_MAX_AGE_SECONDS": "60",
            "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4/",
            "UPSTREAM_READ_TIMEOUT_SECONDS": "2.5",
            "UPSTREAM_MAX_RETRIES": "0",
        }
    )
    assert (custom.max_token_lifetime, custom.secret_max_age, custom.read_timeout, custom.max_retries) == (
        3600,
        60,
        2.5,
        0,
    )
    assert custom.cloudflare_base_url == "http://127.0.0.1:9/client/v4"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STREAM_CUSTOMER_CODE": "abc"}, "CLOUDFLARE_SECRET_ARN"),
        ({"CLOUDFLARE_SECRET_ARN": ARN}, "STREAM_CUSTOMER_CODE"),
        (
            {"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "customer-abc.cloudflarestream.com"},
            "STREAM_CUSTOMER_CODE",
        ),
        (
            {"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc", "MAX_TOKEN_LIFETIME_SECONDS": "90000"},
            "MAX_TOKEN",
        ),
        ({"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc", "UPSTREAM_MAX_RETRIES": "many"}, "UPSTREAM_MAX"),
        ({"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc", "CLOUDFLARE_BASE_URL": "ftp://x"}, "BASE_URL"),
        ({"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc", "SIGNING_MODE": "fast"}, "SIGNING_MODE"),
        ({"CLOUDFLARE_SECRET_ARN": ARN, "STREAM_CUSTOMER_CODE": "abc", "BATCH_MAX_ITEMS": "0"}, "BATCH_MAX_ITEMS"),
    ],
)
def test_bad_configuration_names_the_variable(env, named):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert named in caught.value.detail
    assert caught.value.message == ConfigurationError.PUBLIC_MESSAGE


def test_credentials_token_or_legacy_key():
    token = CloudflareCredentials.from_secret({"account_id": ACCOUNT.upper(), "api_token": "t0k"})
    assert token.account_id == ACCOUNT
    assert token.auth_headers() == {"Authorization": "Bearer t0k"}
    legacy = CloudflareCredentials.from_secret({"account_id": ACCOUNT, "api_email": "a@b.c", "api_key": "k3y"})
    assert legacy.auth_headers() == {"X-Auth-Email": "a@b.c", "X-Auth-Key": "k3y"}
    assert "t0k" not in repr(token)
    assert "k3y" not in repr(legacy)


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ({"api_token": "t"}, "no account_id"),
        ({"account_id": "acme", "api_token": "t"}, "32 hexadecimal"),
        ({"account_id": ACCOUNT}, "neither api_token"),
        ({"account_id": ACCOUNT, "api_email": "a@b.c"}, "neither api_token"),
        ({"account_id": ACCOUNT, "api_token": 42}, "api_token is not a string"),
    ],
)
def test_malformed_secrets_are_configuration_errors_naming_the_field(secret, named):
    with pytest.raises(ConfigurationError) as caught:
        CloudflareCredentials.from_secret(secret)
    assert named in caught.value.detail


@mock_aws
def test_the_secret_is_read_once_then_cached_and_reread_on_demand():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="cf", SecretString=json.dumps({"account_id": ACCOUNT, "api_token": "one"}))["ARN"]
    calls = []
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: calls.append(1))
    credentials = SecretsManagerCredentials(arn, max_age=300, client=client)
    for _ in range(100):
        assert credentials.get().api_token == "one"
    assert len(calls) == 1
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({"account_id": ACCOUNT, "api_token": "two"}))
    assert credentials.get().api_token == "one"  # still cached
    assert credentials.get(refresh=True).api_token == "two"
    assert len(calls) == 2


@mock_aws
def test_unreadable_secrets_are_configuration_errors_with_the_aws_reason():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    missing = SecretsManagerCredentials("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", 300, client)
    with pytest.raises(ConfigurationError) as caught:
        missing.get()
    assert "ResourceNotFoundException" in caught.value.detail
    arn = client.create_secret(Name="text", SecretString="account=1")["ARN"]
    with pytest.raises(ConfigurationError) as caught:
        SecretsManagerCredentials(arn, 300, client).get()
    assert "not valid JSON" in caught.value.detail


def test_the_rotation_grace_period_covers_a_token_lifetime_and_the_secret_cache():
    from stream_tokens.runtime.config import RotationSettings

    env = {"CLOUDFLARE_SECRET_ARN": "arn", "STREAM_CUSTOMER_CODE": "abc", "MAX_TOKEN_LIFETIME_SECONDS": "86400"}
    assert RotationSettings.from_env(env).retired_key_grace == 90000
    assert RotationSettings.from_env(env | {"RETIRED_KEY_GRACE_SECONDS": "86700"}).retired_key_grace == 86700
    for too_short, extra in (("86699", {}), ("90000", {"SECRET_MAX_AGE_SECONDS": "3700"}), ("soon", {})):
        with pytest.raises(ConfigurationError) as caught:
            RotationSettings.from_env(env | extra | {"RETIRED_KEY_GRACE_SECONDS": too_short})
        assert "RETIRED_KEY_GRACE_SECONDS" in caught.value.detail
