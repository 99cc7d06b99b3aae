"""The signing key in a secret of its own (SigningKeySecretArn, issue 22): local signing reads that
secret alone, once per container, and its role cannot read the API token; `auto` and `api` read the
Cloudflare secret as before; the rotation fills the key secret with the API secret's token; a
stack without one (the single secret) keeps working."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.signing_keys import public_key, secret_fields
from tests.integration.test_rotation import Rotator, verifies_with
from tests.support.aws_permissions import AwsCall, decision, denied
from tests.support.function import MintApp
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run, stop

GET = "secretsmanager:GetSecretValue"
MINTING_FUNCTIONS = ("MintFunction", "MintDirectFunction")
REFUSED = "no statement of its role allows it"


@pytest.fixture
def secrets_read(monkeypatch) -> list[str]:
    """The secret ids minting reads: the plain first read (adapters/aws_request.py) is sent on to
    the botocore client, so that the least-privilege recorder sees every read too."""
    from stream_tokens.adapters import aws_request

    read: list[str] = []

    def through_the_client(secret_id: str, env: Any = None) -> None:
        read.append(secret_id)

    monkeypatch.setattr(aws_request, "secret_string", through_the_client)
    return read


@pytest.fixture
def key(double) -> dict[str, Any]:
    return double.add_signing_key()


@pytest.fixture
def key_secret(function_env, moto_endpoint, monkeypatch, key) -> str:
    """A signing-key secret as the rotation leaves it (account_id and the key, no API token), named
    by SIGNING_KEY_SECRET_ARN; the Cloudflare secret (function_env's) holds the API token alone."""
    arn = stack.create_secret(
        moto_endpoint, f"signing-key-{uuid.uuid4().hex}", {"account_id": ACCOUNT} | secret_fields(key)
    )
    monkeypatch.setenv("SIGNING_KEY_SECRET_ARN", arn)
    return arn


def mint_with_both_functions(aws_call_record: list[AwsCall]) -> tuple[list[str], list[AwsCall]]:
    """A token from the HTTP function and one from the direct function, each a fresh container:
    the tokens and the AWS calls they made."""
    start = len(aws_call_record)
    answer = MintApp().mint({"exp": int(time.time()) + 600})
    assert answer.status == 200, answer.body
    direct = stack.load_function("mint_direct").lambda_handler(
        {"identifier": VIDEO}, LambdaContext(function_name="mint-direct")
    )
    tokens = [sensitive(answer.body["result"]["token"]), sensitive(direct["token"])]
    return tokens, aws_call_record[start:]


def on_secret(calls: list[AwsCall], function: str, secret_arn: str) -> AwsCall:
    """The call `function` would make to read `secret_arn`, with the environment it ran with."""
    (given,) = {call.given for call in calls if call.function == function}
    return AwsCall(function, GET, secret_arn, given)


def test_local_signing_reads_the_key_secret_once_per_container_and_never_the_api_token(
    key_secret, secret_arn, key, double, monkeypatch, aws_calls, secrets_read, aws_call_record
):
    monkeypatch.setenv("SIGNING_MODE", "local")
    reads = aws_calls.secret_reads()
    tokens, calls = mint_with_both_functions(aws_call_record)
    assert aws_calls.secret_reads() == reads + 2  # one read in each of the two cold containers
    assert secrets_read == [key_secret, key_secret]
    assert {call.resource for call in calls} == {key_secret}
    assert all(jwt.get_unverified_header(t)["kid"] == key["id"] and verifies_with(t, key) for t in tokens)
    assert double.token_requests() == []


@pytest.mark.parametrize(
    ("mode", "reads"),
    [("local", {"key"}), ("auto", {"api", "key"}), ("api", {"api"})],
)
def test_each_minting_role_reads_exactly_the_secrets_its_mode_uses(
    key_secret, secret_arn, monkeypatch, secrets_read, aws_call_record, mode, reads
):
    """Allowed where used (every recorded call), refused where not (the secret the mode leaves alone)."""
    monkeypatch.setenv("SIGNING_MODE", mode)
    _, calls = mint_with_both_functions(aws_call_record)
    used = {{"api": secret_arn, "key": key_secret}[name] for name in reads}
    assert {call.resource for call in calls} == used
    assert set(secrets_read) == used
    assert {(call.function, call.action) for call in calls} == {(f, GET) for f in MINTING_FUNCTIONS}
    assert denied(calls) == []
    for function in MINTING_FUNCTIONS:
        for arn in {secret_arn, key_secret} - used:
            assert decision(on_secret(calls, function, arn)) == REFUSED, (function, mode, arn)


def test_auto_signs_through_the_api_until_the_key_secret_holds_a_key(
    function_env, moto_endpoint, double, monkeypatch, secrets_read
):
    empty = stack.create_secret(moto_endpoint, f"signing-key-{uuid.uuid4().hex}", {"account_id": ACCOUNT})
    monkeypatch.setenv("SIGNING_KEY_SECRET_ARN", empty)
    answer = MintApp().mint()
    assert answer.status == 200, answer.body
    assert sensitive(answer.body["result"]["token"]) in double.issued_tokens


def test_local_signing_without_a_key_yet_says_so(function_env, moto_endpoint, double, monkeypatch, secrets_read):
    empty = stack.create_secret(moto_endpoint, f"signing-key-{uuid.uuid4().hex}", {"account_id": ACCOUNT})
    monkeypatch.setenv("SIGNING_KEY_SECRET_ARN", empty)
    monkeypatch.setenv("SIGNING_MODE", "local")
    answer = MintApp().mint()
    assert answer.status == 500
    assert double.token_requests() == []
    assert secrets_read == [empty]


def test_a_key_secret_of_another_account_is_refused_in_auto(function_env, moto_endpoint, key, monkeypatch):
    other = stack.create_secret(
        moto_endpoint, f"signing-key-{uuid.uuid4().hex}", {"account_id": "f" * 32} | secret_fields(key)
    )
    monkeypatch.setenv("SIGNING_KEY_SECRET_ARN", other)
    assert MintApp().mint().status == 500


def test_the_single_secret_keeps_working_and_its_roles_read_it_in_every_mode(
    function_env, secret_arn, moto_endpoint, key, monkeypatch, secrets_read, aws_call_record
):
    fields = {"account_id": ACCOUNT, "api_token": "kept"} | secret_fields(key)
    single = stack.create_secret(moto_endpoint, f"cloudflare-{uuid.uuid4().hex}", fields)
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", single)
    monkeypatch.setenv("SIGNING_MODE", "local")
    assert function_env["SIGNING_KEY_SECRET_ARN"] == ""  # the template's default
    tokens, calls = mint_with_both_functions(aws_call_record)
    assert all(verifies_with(t, key) for t in tokens)
    assert {call.resource for call in calls} == {single}
    assert denied(calls) == []
    for mode in ("local", "auto", "api"):
        assert denied(calls, parameters={"SigningMode": mode}) == []


# -- the rotation fills the key secret with the API secret's token ---------------------------------
@pytest.fixture
def key_rotator(function_env, secret_arn, moto_endpoint, monkeypatch) -> Callable[[dict[str, Any]], Rotator]:
    """A Rotator of a new signing-key secret holding `value`, the rotation function's environment
    naming it (and function_env's Cloudflare secret for the API token)."""

    def make(value: dict[str, Any]) -> Rotator:
        arn = stack.create_secret(moto_endpoint, f"signing-key-{uuid.uuid4().hex}", value)
        env = function_env | {"SIGNING_KEY_SECRET_ARN": arn}
        for name, variable in template.function_environment(env, "RotateSigningKeyFunction").items():
            monkeypatch.setenv(name, variable)
        return Rotator(arn, moto_endpoint)

    return make


def test_a_rotation_fills_the_key_secret_using_the_api_secret_which_it_only_reads(
    key_rotator, secret_arn, double, api_token, monkeypatch, secrets_read, aws_call_record
):
    rotator = key_rotator({"account_id": ACCOUNT})
    start = len(aws_call_record)
    rotator.rotate()
    calls = aws_call_record[start:]
    current = rotator.current()
    (created,) = double.created_keys
    assert current["signing_key_id"] == created["id"]
    assert current["account_id"] == ACCOUNT
    assert not {"api_token", "api_email", "api_key"} & set(current)
    untouched = rotator.client.describe_secret(SecretId=secret_arn)["VersionIdsToStages"]
    assert list(untouched.values()) == [["AWSCURRENT"]]  # the API secret: read, never written
    value = json.loads(rotator.client.get_secret_value(SecretId=secret_arn)["SecretString"])
    assert value == {"account_id": ACCOUNT, "api_token": api_token}
    assert {c.resource for c in calls} == {rotator.secret_arn, secret_arn}
    assert denied(calls) == []
    (given,) = {c.given for c in calls}
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"):
        assert decision(AwsCall("RotateSigningKeyFunction", action, secret_arn, given)) == REFUSED
    monkeypatch.setenv("SIGNING_MODE", "local")  # what minting then signs with: the new key
    token = sensitive(MintApp().mint().body["result"]["token"])
    assert jwt.get_unverified_header(token)["kid"] == created["id"]
    assert verifies_with(token, created)


def test_moving_a_copy_of_the_old_secret_drops_its_api_token_at_the_first_rotation(key_rotator, double, api_token, key):
    """docs/deploying.md: a key secret made from a copy of the Cloudflare secret (the key and its
    retirement records carried over) loses any API credentials copied with it at once."""
    rotator = key_rotator({"account_id": ACCOUNT, "api_token": api_token, "label": "kept"} | secret_fields(key))
    rotator.rotate()
    current = rotator.current()
    assert "api_token" not in current
    assert current["label"] == "kept"
    assert [r["id"] for r in current["retired_signing_keys"]] == [key["id"]]  # deleted after the grace period


# -- make run: the two secrets by default, ONE_SECRET=1 for the single one ------------------------
@pytest.mark.parametrize(("extra", "own"), [({}, True), ({"ONE_SECRET": "1"}, False)])
def test_make_run_signs_locally_from_either_shape(extra, own):
    port = free_port()
    process = start_make_run(port, {"SIGNING_MODE": "local"} | extra)
    printed: list[str] = []
    try:
        printed = read_banner(process)
        assert ("from a secret of its own" in "".join(printed)) is own
        jwk = next(json.loads(line) for line in printed if line.strip().startswith('{"kty"'))
        answer = requests.post(f"http://127.0.0.1:{port}/videos/{VIDEO}/token", timeout=10)
        assert answer.status_code == 200, answer.text
        token = sensitive(answer.json()["result"]["token"])
        assert jwt.decode(token, public_key(jwk), algorithms=["RS256"])["kid"] == jwk["kid"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)
