"""Rotating the Stream signing key: Secrets Manager's four steps (each retried on failure, so idempotent).

Secrets Manager stages a new, empty version (the step's `token`) as AWSPENDING, then runs the steps;
minting reads only AWSCURRENT, so until finishSecret tokens are signed with the current key.
- createSecret: retired keys past their grace period are deleted (a 404 drops the record), then
  `POST /stream/keys` (one attempt), and the new key goes at once into the pending version with the
  current one's other fields; if that write fails, the new key (which signed nothing) is deleted.
- setSecret: nothing to push (see set_secret).
- testSecret: a token signed with the pending key's PEM must verify with its JWK, and Cloudflare
  must list the key; only a configuration test of a secret without any key passes on credentials alone.
- finishSecret: AWSCURRENT moves to the new version (AWSPREVIOUS to the old one).
The replaced key is recorded as retired (`domain.rotation_records`) and deleted (`DELETE
/stream/keys/{id}`, revoking its tokens) by a createSecret `retired_key_grace` later; a failed
deletion keeps the record for the next rotation. The live key is never deleted. Keys of rotations
that never finished are found by `rotation_source_version` and retired the same way.

The rotated secret is the Cloudflare secret (its API credentials call Cloudflare) or a signing-key
secret of its own (`api_secret`'s AWSCURRENT credentials call Cloudflare; its versions never hold them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import observability
from ..domain.credentials import SIGNING_KEY_ID, CloudflareCredentials, holds_signing_key
from ..domain.errors import (
    ConfigurationError,
    SigningKeyRotationFailed,
    StreamTokenError,
    UpstreamAuthRejected,
    UpstreamCredentialsRejected,
)
from ..domain.model import is_cloudflare_id
from ..domain.rotation_records import (
    SOURCE,
    RetiredKey,
    key_secret_base,
    one_per_key,
    pending_key_checked,
    pending_value,
    retired_keys,
)
from ..domain.secret_stages import AWSCURRENT, AWSPENDING, SecretState
from .ports import SecretVersionStore, SigningKeysApi

PUT_RESERVE = 3.0  # seconds kept back from the key creation for writing the pending version (or undoing it)


class SigningKeyRotation:
    STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")

    def __init__(
        self,
        retired_key_grace: int,
        versions: SecretVersionStore,
        api: SigningKeysApi,
        clock: Callable[[], float] = time.time,
        api_secret: str = "",
    ) -> None:
        """`retired_key_grace`: seconds a retired signing key is kept before it is deleted (which
        revokes its tokens); `api_secret`: the Cloudflare secret, if another may be rotated."""
        self.retired_key_grace = retired_key_grace
        self.versions = versions
        self.api = api
        self.clock = clock
        self.api_secret = api_secret

    def run(self, step: str, secret_id: str, token: str, deadline: float) -> None:
        """One step for the version `token`, after the checks AWS's rotation template makes."""
        if step not in self.STEPS:
            raise ConfigurationError(f"unknown rotation step {step!r}")
        state = self.versions.describe(secret_id)
        if not state.rotation_enabled:
            raise ConfigurationError("the Cloudflare secret is not enabled for rotation")
        stages = state.stages.get(token)
        if stages is None:
            raise ConfigurationError(f"version {token} of the Cloudflare secret has no stage for rotation")
        if AWSCURRENT in stages:
            observability.logger.info("version already current", extra={"step": step, "version": token})
            return
        if AWSPENDING not in stages:
            raise ConfigurationError(f"version {token} of the Cloudflare secret is not AWSPENDING")
        observability.logger.info("rotation step", extra={"step": step, "version": token})
        if step == "createSecret":
            self.create_secret(secret_id, token, state, deadline)
        elif step == "setSecret":
            self.set_secret()
        elif step == "testSecret":
            self.test_secret(secret_id, token, deadline)
        else:
            self.versions.promote(secret_id, token, state.version_with(AWSCURRENT))
            observability.logger.info("signing key rotated", extra={"version": token})

    def create_secret(self, secret_id: str, token: str, state: SecretState, deadline: float) -> None:
        current = self._current(secret_id)
        if self.versions.read(secret_id, version_id=token, stage=AWSPENDING) is not None:
            observability.logger.info("pending version already holds a key", extra={"version": token})
            return
        credentials = self._api_credentials(secret_id, current)
        account_id, auth = credentials.account_id, credentials.auth_headers()
        if self._is_key_secret(secret_id):
            current = key_secret_base(current, account_id)
        current_version = state.version_with(AWSCURRENT)
        retired, live = self._retirements(secret_id, token, current, current_version)
        # Deletions first (a retried step redoes them: a 404 drops the record), then the key is
        # created and recorded at once, so a failure never leaves a key nobody knows about.
        create_by = deadline - PUT_RESERVE
        prune_by = create_by - self.api.connect_timeout - self.api.read_timeout  # one attempt at the creation
        retired = self._prune(one_per_key(retired), account_id, auth, prune_by, keep=live)
        with _credentials_checked():
            key = self.api.create_signing_key(account_id, auth, create_by)
        observability.signing_keys("created")
        observability.logger.info("signing key created", extra={"signing_key_id": key.id, "version": token})
        try:
            self.versions.put_pending(secret_id, token, pending_value(current, key, retired, current_version))
        except Exception:
            self._discard(secret_id, token, key.id, credentials, deadline)
            raise

    def _retirements(
        self, secret_id: str, token: str, current: dict[str, Any], current_version: str | None
    ) -> tuple[list[RetiredKey], set[str]]:
        """Every retired key once this rotation is done (the recorded ones, the key being replaced,
        keys of unfinished rotations), and the live key, which is never deleted whatever the records say."""
        now = int(self.clock())
        retired = [
            RetiredKey(r.id, now if r.retired_at is None else r.retired_at) for r in retired_keys(current)
        ]  # null: retired when `current` became current, which is before now
        old_id = current.get(SIGNING_KEY_ID)
        live = {old_id.lower()} if is_cloudflare_id(old_id) else set()
        retired += [RetiredKey(key_id, None) for key_id in live]
        if current_version is not None:
            retired += [RetiredKey(key_id, now) for key_id in self._abandoned(secret_id, token, current_version)]
        return retired, live

    @staticmethod
    def set_secret() -> None:
        """Nothing to do: Cloudflare created the key in createSecret, and it is usable at once.
        (For a database this step would set the new password; a Stream key has no such step.)"""

    def test_secret(self, secret_id: str, token: str, deadline: float) -> None:
        pending = self.versions.read(secret_id, version_id=token, stage=AWSPENDING)
        if pending is None:
            raise SigningKeyRotationFailed("the pending version has no value: createSecret did not finish")
        credentials = self._api_credentials(secret_id, pending)
        with _credentials_checked():
            listed = self.api.list_signing_keys(credentials.account_id, credentials.auth_headers(), deadline)
        if not holds_signing_key(pending) and SOURCE not in pending and not holds_signing_key(self._current(secret_id)):
            # Not written by createSecret: Secrets Manager testing the configuration (a schedule
            # set without rotating at once) with a copy of an API-only secret, which holds no key
            # yet. The credentials work (the keys were listed); there is no key to check.
            observability.logger.info("rotation configuration tested: the secret holds no signing key yet")
            return
        key_id = pending_key_checked(pending, int(time.time()))  # now, whatever clock the records use
        if key_id not in listed:
            raise SigningKeyRotationFailed(f"Cloudflare does not list the pending signing key {key_id}")
        observability.logger.info("pending signing key verified", extra={"signing_key_id": key_id})

    def _is_key_secret(self, secret_id: str) -> bool:
        return bool(self.api_secret) and secret_id != self.api_secret

    def _api_credentials(self, secret_id: str, value: dict[str, Any]) -> CloudflareCredentials:
        """Cloudflare's API is called with the rotated value's credentials, or the Cloudflare secret's."""
        source = self._current(self.api_secret) if self._is_key_secret(secret_id) else value
        return CloudflareCredentials.from_secret(source, with_signing_key=False)

    def _current(self, secret_id: str) -> dict[str, Any]:
        current = self.versions.read(secret_id, stage=AWSCURRENT)
        if current is None:
            raise ConfigurationError("the Cloudflare secret has no AWSCURRENT value")
        return current

    def _abandoned(self, secret_id: str, token: str, current_version: str) -> list[str]:
        """Keys of pending versions made from the current version that never became current."""
        found = []
        for version in self.versions.created_since(secret_id, current_version):
            try:
                value = self.versions.read(secret_id, version_id=version) if version != token else None
            except ConfigurationError:
                continue  # an old version that is not a JSON object was not written by a rotation
            key_id = value.get(SIGNING_KEY_ID) if value else None
            if value and value.get(SOURCE) == current_version and is_cloudflare_id(key_id):
                observability.logger.info(
                    "key of an unfinished rotation retired", extra={"signing_key_id": key_id, "version": version}
                )
                found.append(key_id.lower())
        return found

    def _discard(
        self, secret_id: str, token: str, key_id: str, credentials: CloudflareCredentials, deadline: float
    ) -> None:
        """Best effort once writing the pending version failed: delete the key just created (it never
        signed a token), unless the pending version holds it after all (a write whose answer was lost)."""
        try:
            stored = self.versions.read(secret_id, version_id=token, stage=AWSPENDING)
            if stored is not None and stored.get(SIGNING_KEY_ID) == key_id:
                return
            self.api.delete_signing_key(credentials.account_id, key_id, credentials.auth_headers(), deadline)
        except Exception as exc:
            observability.logger.warning(
                "unrecorded signing key not deleted", extra={"signing_key_id": key_id, "reason": type(exc).__name__}
            )
            return
        observability.signing_keys("discarded")
        observability.logger.warning(
            "signing key deleted: the pending version was not written", extra={"signing_key_id": key_id}
        )

    def _prune(
        self, retired: list[RetiredKey], account_id: str, auth: dict[str, str], deadline: float, *, keep: set[str]
    ) -> list[RetiredKey]:
        """Delete the keys retired more than the grace period ago; the records of the others, and of
        the ones Cloudflare would not delete now, are kept."""
        now = int(self.clock())
        kept = []
        for record in retired:
            due = record.retired_at is not None and now - record.retired_at >= self.retired_key_grace
            if not due or record.id in keep:
                kept.append(record)
                continue
            try:
                deleted = self.api.delete_signing_key(account_id, record.id, auth, deadline)
            except (StreamTokenError, UpstreamAuthRejected) as exc:
                reason = exc.kind if isinstance(exc, StreamTokenError) else f"HTTP {exc.status}"
                observability.logger.warning(
                    "retired signing key not deleted; kept for the next rotation",
                    extra={"signing_key_id": record.id, "reason": reason},
                )
                observability.signing_keys("deletion_failed")
                kept.append(record)
                continue
            observability.signing_keys("deleted" if deleted else "already_gone")
            observability.logger.info(
                "retired signing key deleted" if deleted else "retired signing key already gone",
                extra={"signing_key_id": record.id, "retired_at": record.to_json()["retired_at"]},
            )
        return kept


@contextmanager
def _credentials_checked() -> Iterator[None]:
    """Cloudflare refusing the secret's credentials fails the step by that name."""
    try:
        yield
    except UpstreamAuthRejected as refused:
        raise UpstreamCredentialsRejected.after(refused, "to the secret's credentials") from None
