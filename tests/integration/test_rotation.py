"""Rotating the Stream signing key: the rotation function invoked step by step with Secrets
Manager's rotation events, against moto's Secrets Manager and the Cloudflare double, and the mint
function reading the same secret meanwhile."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext
from localdev.standins.cloudflare_double import CREATE_KEY, DELETE_KEY, LIST_KEYS, Fault
from localdev.standins.examples import ACCOUNT
from localdev.standins.signing_keys import public_jwk, public_key, secret_fields
from tests.support.function import MintApp
from tests.support.log_hygiene import sensitive

GRACE = 90000  # the template's default RetiredKeyGraceSeconds
EVENT = json.loads((template.ROOT / "events" / "rotation.create-secret.json").read_text())
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class Rotator:
    """The rotation function in its own container, and Secrets Manager's side of a rotation."""

    def __init__(self, secret_arn: str, endpoint: str) -> None:
        self.secret_arn = secret_arn
        self.client = stack.secrets_client(endpoint)
        self.module = stack.load_function("rotate_signing_key")
        self.now: float | None = None  # the rotation's clock (None: the real one)

    def start(self, *, immediately: bool = True) -> str:
        """What Secrets Manager does first: rotation enabled, a new version staged AWSPENDING, empty
        (or, when not rotating at once, a copy of the current value for a testSecret alone).
        (moto stages it, then refuses to invoke a function it does not have: the steps are ours.)"""
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            self.client.rotate_secret(
                SecretId=self.secret_arn,
                RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:rotate-signing-key",
                RotationRules={"AutomaticallyAfterDays": 30},
                RotateImmediately=immediately,
            )
        return self.version_with("AWSPENDING")

    def step(self, name: str, token: str) -> None:
        from stream_tokens.runtime import bootstrap

        rotation = bootstrap.signing_key_rotation()
        now = self.now
        rotation.clock = time.time if now is None else (lambda: now)
        event = EVENT | {"Step": name, "SecretId": self.secret_arn, "ClientRequestToken": token}
        assert self.module.lambda_handler(event, LambdaContext(timeout_seconds=30)) is None

    def rotate(self) -> str:
        token = self.start()
        for name in STEPS:
            self.step(name, token)
        return token

    def stages(self) -> dict[str, list[str]]:
        return self.client.describe_secret(SecretId=self.secret_arn)["VersionIdsToStages"]

    def version_with(self, stage: str) -> str:
        (version,) = [v for v, stages in self.stages().items() if stage in stages]
        return version

    def value(self, **options: str) -> dict[str, Any]:
        return json.loads(self.client.get_secret_value(SecretId=self.secret_arn, **options)["SecretString"])

    def current(self) -> dict[str, Any]:
        return self.value(VersionStage="AWSCURRENT")


@pytest.fixture
def first_key(double) -> dict:
    return double.add_signing_key()  # registered for the log scan by the double fixture


@pytest.fixture
def rotator(function_env, moto_endpoint, monkeypatch, double, first_key, api_token) -> Rotator:
    fields = {"account_id": ACCOUNT, "api_token": api_token, "label": "kept as is"} | secret_fields(first_key)
    arn = stack.create_secret(moto_endpoint, f"rotating-{uuid.uuid4().hex}", fields)
    env = template.function_environment(function_env | {"CLOUDFLARE_SECRET_ARN": arn}, "RotateSigningKeyFunction")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert env["RETIRED_KEY_GRACE_SECONDS"] == str(GRACE)
    return Rotator(arn, moto_endpoint)


def mint_kid(app: MintApp) -> tuple[str, str]:
    """Mint through the HTTP function: the token and the key id in its header."""
    answer = app.mint({"exp": int(time.time()) + 600})
    assert answer.status == 200, answer.body
    token = sensitive(answer.body["result"]["token"])
    return token, jwt.get_unverified_header(token)["kid"]


def verifies_with(token: str, key: dict) -> bool:
    public = public_key(public_jwk(key))
    try:
        jwt.decode(token, public, algorithms=["RS256"])
    except jwt.InvalidTokenError:
        return False
    return True


def test_a_whole_rotation_step_by_step(rotator, double, first_key, monkeypatch):
    warm = MintApp()  # a container that keeps the secret for SecretMaxAgeSeconds (300 s)
    before, kid = mint_kid(warm)
    assert kid == first_key["id"]
    token = rotator.start()
    first_version = rotator.version_with("AWSCURRENT")

    rotator.step("createSecret", token)
    (created,) = double.key_requests("POST")
    assert created.body == {}
    pending = rotator.value(VersionId=token, VersionStage="AWSPENDING")
    (new_key,) = [k for k in double.created_keys if k["id"] != first_key["id"]]
    assert pending == {
        "account_id": ACCOUNT,
        "api_token": double.api_token,
        "label": "kept as is",
        **secret_fields(new_key),
        "retired_signing_keys": [{"id": first_key["id"], "retired_at": None}],
        "rotation_source_version": first_version,
    }
    assert mint_kid(MintApp())[1] == first_key["id"], "a rotation in flight does not change the key minting uses"

    rotator.step("setSecret", token)
    assert len(double.requests) == 1, "setSecret has nothing to tell Cloudflare"
    rotator.step("testSecret", token)
    assert [r.method for r in double.key_requests()] == ["POST", "GET"]
    assert mint_kid(MintApp())[1] == first_key["id"]

    rotator.step("finishSecret", token)
    stages = rotator.stages()
    assert stages[token] == ["AWSCURRENT"]
    assert stages[first_version] == ["AWSPREVIOUS"]
    assert [v for v, s in stages.items() if "AWSPENDING" in s] == []
    assert rotator.current()["signing_key_id"] == new_key["id"]

    assert mint_kid(warm)[1] == first_key["id"], "a warm container signs with the old key until its cache expires"
    after, kid = mint_kid(MintApp())  # a new container reads the secret: the new key
    assert kid == new_key["id"]
    assert verifies_with(after, new_key)
    assert not verifies_with(after, first_key)
    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", "0")
    assert mint_kid(MintApp())[1] == new_key["id"]

    assert verifies_with(before, first_key), "tokens signed before still verify with the old key"
    assert set(double.signing_keys) == {first_key["id"], new_key["id"]}, "and the old key is not deleted"
    assert double.key_requests("DELETE") == []


def test_a_container_without_cache_picks_up_the_new_key_right_after_finish_secret(rotator, monkeypatch):
    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", "0")
    app = MintApp()
    old = mint_kid(app)[1]
    token = rotator.start()
    for name in STEPS[:3]:
        rotator.step(name, token)
    assert mint_kid(app)[1] == old
    rotator.step("finishSecret", token)
    assert mint_kid(app)[1] == rotator.current()["signing_key_id"] != old


def test_every_step_retried_creates_no_second_key_and_changes_nothing(rotator, double):
    token = rotator.start()
    for name in STEPS:
        rotator.step(name, token)
        state = (rotator.stages(), rotator.value(VersionId=token))
        rotator.step(name, token)  # Secrets Manager retries a step whose answer it did not get
        assert (rotator.stages(), rotator.value(VersionId=token)) == state
    assert len(double.key_requests("POST")) == 1
    assert len(double.signing_keys) == 2


def test_cloudflare_down_in_create_secret_fails_the_step_and_a_retry_completes(rotator, double, first_key):
    token = rotator.start()
    double.fail_next(Fault(503), operation=CREATE_KEY)
    with pytest.raises(Exception, match="Cloudflare failed with HTTP 503") as failed:
        rotator.step("createSecret", token)
    assert type(failed.value).__name__ == "UpstreamUnavailable"
    assert len(double.key_requests("POST")) == 1, "a key creation is never retried blindly: the step is"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        rotator.value(VersionId=token, VersionStage="AWSPENDING")  # nothing half-written
    assert mint_kid(MintApp())[1] == first_key["id"]

    for name in STEPS:  # Secrets Manager retries the rotation with the same token
        rotator.step(name, token)
    assert rotator.current()["signing_key_id"] != first_key["id"]
    assert len(double.signing_keys) == 2


@pytest.mark.parametrize("failure", ["refused", "answer lost"])
def test_a_pending_version_that_cannot_be_written_leaves_no_key_unrecorded(rotator, double, first_key, failure):
    """PutSecretValue fails after the key was created: the key is deleted again (it never signed
    anything), unless the write went through after all; the retried step leaves one new key."""
    from stream_tokens.adapters.secret_versions import SecretVersions

    put = SecretVersions.put_pending
    calls = []

    def put_once_failing(self: SecretVersions, *args: Any) -> None:
        calls.append(args)
        if len(calls) == 1 and failure == "answer lost":
            put(self, *args)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "try again"}}, "PutSecretValue")
        put(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SecretVersions, "put_pending", put_once_failing)
        token = rotator.start()
        with pytest.raises(Exception, match="Internal error"):
            rotator.step("createSecret", token)
        (created,) = [k["id"] for k in double.created_keys if k["id"] != first_key["id"]]
        if failure == "refused":
            assert double.key_requests("DELETE")[-1].path.endswith(created)
            assert set(double.signing_keys) == {first_key["id"]}, "the key nobody recorded is gone"
        else:
            assert double.key_requests("DELETE") == []
            assert created in double.signing_keys
        for name in STEPS:  # Secrets Manager retries the step, then the rest
            rotator.step(name, token)
    current = rotator.current()
    assert current["signing_key_id"] in double.signing_keys
    recorded = {current["signing_key_id"]} | {r["id"] for r in current["retired_signing_keys"]}
    assert set(double.signing_keys) <= recorded, "every key at Cloudflare is recorded in the secret"
    assert recorded == {first_key["id"], current["signing_key_id"]}
    assert len(double.key_requests("POST")) == (2 if failure == "refused" else 1)


def test_a_pending_version_left_by_a_failed_run_is_replaced_and_its_key_retired(rotator, double, first_key):
    failed = rotator.start()
    rotator.step("createSecret", failed)
    abandoned = rotator.value(VersionId=failed)["signing_key_id"]
    double.fail_next(*[Fault(500)] * 3, operation=LIST_KEYS)
    with pytest.raises(Exception, match="HTTP 500"):
        rotator.step("testSecret", failed)

    token = rotator.start()  # a new rotation, a new token: AWSPENDING moves to it
    assert token != failed
    assert "AWSPENDING" not in rotator.stages().get(failed, [])
    for name in STEPS:
        rotator.step(name, token)
    current = rotator.current()
    assert current["signing_key_id"] not in (abandoned, first_key["id"])
    assert len(double.key_requests("POST")) == 2, "the new token got its own key; the failed run's is not reused"
    records = {r["id"]: r["retired_at"] for r in current["retired_signing_keys"]}
    assert records[first_key["id"]] is None  # retired when this version became current
    assert records[abandoned] is not None, "the unfinished rotation's key is on its way out too"
    assert set(records) == {first_key["id"], abandoned}

    rotator.now = time.time() + GRACE + 60
    rotator.rotate()
    assert abandoned not in double.signing_keys
    assert first_key["id"] in double.signing_keys, "stamped only now: it waits its own grace period"


def test_retired_keys_are_deleted_after_the_grace_period_and_a_refused_deletion_waits(rotator, double, first_key):
    minted_before, _ = mint_kid(MintApp())
    rotator.rotate()  # the first key is retired: retired_at null, "when this version became current"
    start = time.time()
    rotator.now = start
    rotator.rotate()  # stamped now; not deleted
    assert first_key["id"] in double.signing_keys
    (record,) = [r for r in rotator.current()["retired_signing_keys"] if r["id"] == first_key["id"]]
    assert record["retired_at"] is not None

    rotator.now = start + GRACE - 60  # not yet: a token it signed may still be live
    rotator.rotate()
    assert first_key["id"] in double.signing_keys
    assert double.key_requests("DELETE") == []
    assert verifies_with(minted_before, first_key)

    rotator.now = start + GRACE + 1
    double.fail_next(Fault(403), operation=DELETE_KEY)
    rotator.rotate()  # Cloudflare refuses the deletion: the rotation itself completes
    assert len(double.key_requests("DELETE")) == 1
    assert first_key["id"] in double.signing_keys
    kept = [r["id"] for r in rotator.current()["retired_signing_keys"]]
    assert first_key["id"] in kept, "kept on record for the next rotation"

    double.fail_next(*[Fault(500)] * 3, operation=DELETE_KEY)
    rotator.rotate()
    assert first_key["id"] in [r["id"] for r in rotator.current()["retired_signing_keys"]]

    rotator.rotate()  # Cloudflare answers again
    assert first_key["id"] not in double.signing_keys
    assert first_key["id"] not in [r["id"] for r in rotator.current()["retired_signing_keys"]]
    deleted = double.key_requests("DELETE")[-1]
    assert deleted.path.endswith(f"/accounts/{ACCOUNT}/stream/keys/{first_key['id']}")


def test_a_key_already_gone_is_dropped_from_the_record(rotator, double, first_key, capsys):
    rotator.rotate()
    rotator.now = time.time()
    rotator.rotate()
    del double.signing_keys[first_key["id"]]  # deleted by hand on the dashboard meanwhile
    rotator.now += GRACE + 1
    capsys.readouterr()
    rotator.rotate()
    assert double.key_requests("DELETE")[-1].path.endswith(first_key["id"])  # answered 404
    assert first_key["id"] not in [r["id"] for r in rotator.current()["retired_signing_keys"]]
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"SigningKeys"' in line]
    assert [m["Event"] for m in metrics] == ["already_gone", "created"], "not counted as deleted"


def test_the_key_being_replaced_is_never_deleted_whatever_the_records_say(rotator, double, first_key):
    """A hand-edited `retired_signing_keys` listing the live key, long retired and twice."""
    listed = [{"id": first_key["id"].upper(), "retired_at": "2020-01-01T00:00:00Z"}] * 2
    rotator.client.put_secret_value(
        SecretId=rotator.secret_arn, SecretString=json.dumps(rotator.current() | {"retired_signing_keys": listed})
    )
    rotator.rotate()
    assert double.key_requests("DELETE") == []
    assert first_key["id"] in double.signing_keys
    records = rotator.current()["retired_signing_keys"]
    assert records == [{"id": first_key["id"], "retired_at": None}], "one record: retired by this rotation"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("not enabled", "not enabled for rotation"),
        ("unknown version", "has no stage for rotation"),
        ("unknown step", "unknown rotation step"),
    ],
)
def test_events_outside_the_rotation_contract_are_refused(rotator, double, setup, message, caplog):
    token = str(uuid.uuid4())
    step = "createSecret"
    if setup == "unknown version":
        rotator.start()
    elif setup == "unknown step":
        token = rotator.start()
        step = "deleteSecret"
    with pytest.raises(Exception, match="misconfigured") as refused:
        rotator.step(step, token)
    assert type(refused.value).__name__ == "ConfigurationError"
    details = [getattr(r, "detail", "") for r in caplog.records if r.levelname == "ERROR"]
    assert len(details) == 1
    assert message in details[0]
    assert double.requests == []


def test_test_secret_refuses_a_key_cloudflare_does_not_list(rotator, double):
    token = rotator.start()
    rotator.step("createSecret", token)
    double.signing_keys.clear()
    with pytest.raises(Exception, match="does not list the pending signing key") as failed:
        rotator.step("testSecret", token)
    assert type(failed.value).__name__ == "SigningKeyRotationFailed"
    assert "AWSCURRENT" not in rotator.stages()[token]


def test_a_schedule_set_without_rotating_at_once_tests_the_configuration_only(
    rotator, double, moto_endpoint, api_token, monkeypatch
):
    """Secrets Manager then runs testSecret alone, on a copy of the current value; the secret may
    hold no signing key yet (API-only until the first rotation)."""
    rotator.secret_arn = stack.create_secret(
        moto_endpoint, f"api-only-{uuid.uuid4().hex}", {"account_id": ACCOUNT, "api_token": api_token}
    )
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", rotator.secret_arn)  # the stack's secret (its role's only one)
    token = rotator.start(immediately=False)
    rotator.step("testSecret", token)
    assert [r.method for r in double.requests] == ["GET"], "the credentials were tried; no key was created"
    double.rotate_token("another-token")
    with pytest.raises(Exception, match="upstream credentials rejected: Cloudflare answered HTTP 401") as refused:
        rotator.step("testSecret", token)
    assert type(refused.value).__name__ == "UpstreamCredentialsRejected"


def test_a_pending_version_without_a_key_fails_the_test_when_the_current_one_holds_a_key(rotator, double, first_key):
    """The credentials-only shortcut is for API-only secrets: here the key checks apply."""
    token = rotator.start(immediately=False)  # a schedule set without rotating: a copy of the current value
    rotator.step("testSecret", token)  # the copy's key signs, verifies and is listed
    assert rotator.value(VersionId=token)["signing_key_id"] == first_key["id"]

    token = rotator.start()
    without_key = {name: value for name, value in rotator.current().items() if not name.startswith("signing_key")}
    rotator.client.put_secret_value(
        SecretId=rotator.secret_arn,
        ClientRequestToken=token,
        SecretString=json.dumps(without_key),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(Exception, match="lacks a signing_key_id") as failed:
        rotator.step("testSecret", token)
    assert type(failed.value).__name__ == "SigningKeyRotationFailed"


@pytest.mark.parametrize("step", STEPS)
def test_a_step_for_a_version_that_is_not_pending_is_refused(rotator, double, step):
    rotator.rotate()
    previous = rotator.version_with("AWSPREVIOUS")
    before = (rotator.stages(), len(double.requests))
    with pytest.raises(Exception, match="misconfigured") as refused:
        rotator.step(step, previous)
    assert type(refused.value).__name__ == "ConfigurationError"
    assert (rotator.stages(), len(double.requests)) == before


def test_the_first_rotation_of_an_api_only_secret_gives_it_a_key_that_minting_uses(
    rotator, double, moto_endpoint, api_token, monkeypatch
):
    rotator.secret_arn = stack.create_secret(
        moto_endpoint, f"api-only-{uuid.uuid4().hex}", {"account_id": ACCOUNT, "api_token": api_token}
    )
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", rotator.secret_arn)
    token = rotator.rotate()
    current = rotator.current()
    assert rotator.version_with("AWSCURRENT") == token
    assert current["retired_signing_keys"] == []
    assert current["account_id"] == ACCOUNT
    (created,) = double.created_keys[1:]  # [0] is the fixture's key, in the other secret
    assert current["signing_key_id"] == created["id"]
    minted, kid = mint_kid(MintApp())
    assert kid == created["id"]
    assert verifies_with(minted, created)


def test_a_token_that_may_not_create_keys_fails_the_first_rotation_and_minting_goes_on_through_the_api(
    rotator, double, moto_endpoint, api_token, monkeypatch
):
    """A default deployment rotates once when the stack creates the schedule (RotateImmediatelyOnUpdate).
    If the API token lacks Stream key rights, Cloudflare answers 403 to POST /stream/keys: each
    createSecret Secrets Manager runs fails as UpstreamCredentialsRejected, nothing is written to the
    secret, and the deployment keeps minting through Cloudflare's API with the current version."""
    rotator.secret_arn = stack.create_secret(
        moto_endpoint, f"api-only-{uuid.uuid4().hex}", {"account_id": ACCOUNT, "api_token": api_token}
    )
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", rotator.secret_arn)
    before = (rotator.current(), rotator.version_with("AWSCURRENT"))
    token = rotator.start()
    double.fail_next(*[Fault(403)] * 4, operation=CREATE_KEY)
    for _ in range(2):  # the first run and Secrets Manager's retry of the step
        with pytest.raises(Exception, match="upstream credentials rejected: Cloudflare answered HTTP 403") as refused:
            rotator.step("createSecret", token)
        assert type(refused.value).__name__ == "UpstreamCredentialsRejected"
    assert [r.method for r in double.key_requests()] == ["POST", "POST"], "one refused creation a run, no other call"
    assert (rotator.current(), rotator.version_with("AWSCURRENT")) == before
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        rotator.value(VersionId=token, VersionStage="AWSPENDING")  # nothing written for the pending version

    tokens_before = len(double.token_requests())
    answer = MintApp().mint({"exp": int(time.time()) + 600})
    assert answer.status == 200, answer.body
    sensitive(answer.body["result"]["token"])
    assert len(double.token_requests()) == tokens_before + 1, "minted by Cloudflare's API"
