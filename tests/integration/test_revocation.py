"""Revocation as docs/security.md's emergency steps say: rotate first (a new key becomes current,
containers pick it up within SecretMaxAgeSeconds), then delete the old key at Cloudflare (every
token it signed is refused from then on), through the real functions, moto's Secrets Manager and
the Cloudflare double, minting all along; and the alarm's metric when the secret holds no key."""

from __future__ import annotations

import time

import pytest
import requests

from localdev.standins.examples import ACCOUNT
from stream_tokens import observability as o
from tests.integration import test_rotation
from tests.integration.test_rotation import STEPS, Rotator, mint_kid
from tests.integration.test_warm_reuse import use_signing_key
from tests.support.function import MintApp, emf_records

first_key, rotator = test_rotation.first_key, test_rotation.rotator  # its fixtures, here too
MAX_AGE = 1  # SecretMaxAgeSeconds, shortened: the time a warm container keeps the old key


def delete_key_at_cloudflare(double, key_id: str) -> None:
    """What the operator does with the API token: `DELETE .../stream/keys/{id}`."""
    answer = requests.delete(
        f"{double.base_url}/accounts/{ACCOUNT}/stream/keys/{key_id}",
        json={},  # as Cloudflare's SDKs send it
        headers={"Authorization": f"Bearer {double.api_token}"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def listed_keys(double) -> set[str]:
    answer = requests.get(
        f"{double.base_url}/accounts/{ACCOUNT}/stream/keys",
        headers={"Authorization": f"Bearer {double.api_token}"},
        timeout=5,
    )
    return {key["id"] for key in answer.json()["result"]}


def missing_key_counts(capsys: pytest.CaptureFixture[str]) -> int:
    return sum(1 for record in emf_records(capsys) if o.SIGNING_KEY_MISSING in record)


def test_rotate_then_delete_the_old_key_revokes_its_tokens_and_no_request_fails(
    rotator: Rotator, double, first_key: dict, monkeypatch, capsys
):
    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", str(MAX_AGE))
    app = MintApp()  # one warm container throughout
    minted: list[tuple[str, str]] = []  # (token, key id): mint_kid fails the test on any answer but a 200

    def mint() -> str:
        minted.append(mint_kid(app))
        return minted[-1][1]

    old = first_key["id"]
    assert mint() == old
    assert double.accepts(minted[0][0])

    version = rotator.start()  # 1. rotate now
    for step in STEPS:
        rotator.step(step, version)
        mint()  # minting goes on through every step
    new = rotator.current()["signing_key_id"]
    assert new != old
    time.sleep(MAX_AGE + 0.1)  # 2. wait SecretMaxAgeSeconds: every container has read the new key
    assert mint() == new

    delete_key_at_cloudflare(double, old)  # 3. then delete the old key
    assert old not in listed_keys(double)
    revoked = [token for token, kid in minted if kid == old]
    assert len(revoked) >= 2
    assert not any(double.accepts(token) for token in revoked)  # every token of the old key is refused
    assert [mint() for _ in range(3)] == [new] * 3  # minting goes on with the new key
    assert all(double.accepts(token) for token, kid in minted if kid == new)
    assert missing_key_counts(capsys) == 0  # the secret held a key at every read


def test_deleting_the_key_first_leaves_warm_containers_minting_tokens_viewers_are_refused(
    rotator: Rotator, double, first_key: dict
):
    """Why the steps are in that order: a deleted key still in the secret signs dead tokens."""
    app = MintApp()
    assert mint_kid(app)[1] == first_key["id"]
    delete_key_at_cloudflare(double, first_key["id"])
    token, kid = mint_kid(app)  # the function cannot tell: it signs locally, with no call to Cloudflare
    assert kid == first_key["id"]
    assert not double.accepts(token)


def test_a_secret_without_a_signing_key_counts_signing_key_missing_once_per_read(app, capsys):
    """SIGNING_MODE auto (the default) and an API-token-only secret: the API signs, the alarm's metric counts."""
    assert [app.mint({}).status for _ in range(3)] == [200] * 3
    assert missing_key_counts(capsys) == 1  # one secret read, three requests


def test_no_signing_key_missing_in_api_mode_nor_with_a_key(monkeypatch, moto_endpoint, function_env, capsys):
    monkeypatch.setenv("SIGNING_MODE", "api")
    assert MintApp().mint({}).status == 200
    monkeypatch.setenv("SIGNING_MODE", "local")
    use_signing_key(monkeypatch, moto_endpoint)
    assert MintApp().mint({}).status == 200
    assert missing_key_counts(capsys) == 0


def test_local_mode_without_a_key_fails_and_counts_signing_key_missing(monkeypatch, function_env, capsys):
    monkeypatch.setenv("SIGNING_MODE", "local")
    app = MintApp()
    assert app.mint({}).status >= 500
    assert missing_key_counts(capsys) == 1
