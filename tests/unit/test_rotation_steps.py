"""The rotation's four steps through its seams: in-memory secret versions and signing-keys API
(real RSA keys, generated once), no moto, no HTTP."""

from __future__ import annotations

import time

import pytest

from localdev.standins.examples import ACCOUNT
from localdev.standins.signing_keys import new_signing_key, secret_fields
from stream_tokens.domain.errors import (
    ConfigurationError,
    SigningKeyRotationFailed,
    UpstreamAuthRejected,
    UpstreamCredentialsRejected,
)
from stream_tokens.services.rotation import SigningKeyRotation
from tests.support.fakes import FakeSecretVersions, FakeSigningKeysApi

SECRET = "cloudflare"
GRACE = 90_000
NOW = 1_800_000_000
LIVE_KEY = new_signing_key()


@pytest.fixture(scope="module")
def keys() -> FakeSigningKeysApi:
    return FakeSigningKeysApi(keys=2)


def rotation_of(
    current: dict, keys: FakeSigningKeysApi
) -> tuple[SigningKeyRotation, FakeSecretVersions, FakeSigningKeysApi]:
    versions = FakeSecretVersions(current)
    api = FakeSigningKeysApi(keys=0)
    api.pool = list(keys.pool)  # the module's keys, reused: no RSA generation per test
    api.listed = {LIVE_KEY["id"]}
    return SigningKeyRotation(GRACE, versions, api, clock=lambda: NOW), versions, api


def rotate(rotation: SigningKeyRotation, versions: FakeSecretVersions) -> str:
    version = versions.start_rotation()
    for step in SigningKeyRotation.STEPS:
        rotation.run(step, SECRET, version, time.monotonic() + 30)
    return version


def secret_with_live_key(**extra) -> dict:
    return {"account_id": ACCOUNT, "api_token": "t"} | secret_fields(LIVE_KEY) | extra


def test_a_rotation_puts_a_new_key_in_the_secret_and_retires_the_live_one(keys):
    rotation, versions, api = rotation_of(secret_with_live_key(), keys)
    rotate(rotation, versions)
    current = versions.current
    assert current["signing_key_id"] == keys.pool[0]["id"]
    assert current["api_token"] == "t"
    assert current["retired_signing_keys"] == [{"id": LIVE_KEY["id"], "retired_at": None}]
    assert api.deleted == []


def test_a_retried_create_step_creates_no_second_key(keys):
    rotation, versions, api = rotation_of(secret_with_live_key(), keys)
    version = versions.start_rotation()
    rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    assert api.listed == {LIVE_KEY["id"], keys.pool[0]["id"]}


def test_a_key_retired_longer_than_the_grace_period_is_deleted_and_its_record_dropped(keys):
    old = "b" * 32
    stamped = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - GRACE - 1))
    rotation, versions, api = rotation_of(
        secret_with_live_key(retired_signing_keys=[{"id": old, "retired_at": stamped}]), keys
    )
    api.listed.add(old)
    rotate(rotation, versions)
    assert api.deleted == [old]
    assert [r["id"] for r in versions.current["retired_signing_keys"]] == [LIVE_KEY["id"]]


def test_the_live_key_is_never_deleted_even_if_the_records_say_so(keys):
    stamped = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 10 * GRACE))
    listed_as_retired = [{"id": LIVE_KEY["id"], "retired_at": stamped}]
    rotation, versions, api = rotation_of(secret_with_live_key(retired_signing_keys=listed_as_retired), keys)
    rotate(rotation, versions)
    assert api.deleted == []


def test_a_pending_version_that_cannot_be_written_gets_its_new_key_deleted_again(keys):
    rotation, versions, api = rotation_of(secret_with_live_key(), keys)
    versions.fail_puts = 1
    version = versions.start_rotation()
    with pytest.raises(ConnectionError):
        rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    assert api.deleted == [keys.pool[0]["id"]]
    assert versions.read(SECRET, version_id=version) is None


def test_the_test_step_refuses_a_key_cloudflare_does_not_list(keys):
    rotation, versions, api = rotation_of(secret_with_live_key(), keys)
    version = versions.start_rotation()
    rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    api.listed.clear()
    with pytest.raises(SigningKeyRotationFailed, match="does not list"):
        rotation.run("testSecret", SECRET, version, time.monotonic() + 30)


def test_the_test_step_refuses_a_pem_and_jwk_that_are_not_one_key(keys):
    rotation, versions, _ = rotation_of(secret_with_live_key(), keys)
    version = versions.start_rotation()
    rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    versions.values[version]["signing_key_jwk"] = LIVE_KEY["jwk"]
    with pytest.raises(SigningKeyRotationFailed, match="does not sign and verify"):
        rotation.run("testSecret", SECRET, version, time.monotonic() + 30)


def test_credentials_cloudflare_refuses_fail_the_step_by_that_name(keys):
    rotation, versions, api = rotation_of(secret_with_live_key(), keys)
    api.refuse_creation = UpstreamAuthRejected(403)
    version = versions.start_rotation()
    with pytest.raises(UpstreamCredentialsRejected, match="HTTP 403"):
        rotation.run("createSecret", SECRET, version, time.monotonic() + 30)
    assert versions.read(SECRET, version_id=version) is None


def test_steps_are_refused_for_a_secret_without_rotation_or_a_version_not_pending(keys):
    rotation, versions, _ = rotation_of(secret_with_live_key(), keys)
    versions.stages["v9"] = ["AWSPREVIOUS"]
    with pytest.raises(ConfigurationError) as not_pending:
        rotation.run("createSecret", SECRET, "v9", time.monotonic() + 30)
    assert "not AWSPENDING" in not_pending.value.detail
    versions.rotation_enabled = False
    pending = versions.start_rotation()
    with pytest.raises(ConfigurationError) as disabled:
        rotation.run("createSecret", SECRET, pending, time.monotonic() + 30)
    assert "not enabled for rotation" in disabled.value.detail
