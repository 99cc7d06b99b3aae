"""In-memory fakes of the services' ports (`stream_tokens.services.ports`): what the unit tests hand
the minting service and the rotation instead of Secrets Manager and Cloudflare."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localdev.standins.signing_keys import new_signing_key
from stream_tokens.domain.call_limits import CallLimits
from stream_tokens.domain.credentials import CloudflareCredentials
from stream_tokens.domain.model import NewSigningKey, TokenRequest
from stream_tokens.domain.secret_stages import AWSCURRENT, AWSPENDING, SecretState


class FakeCredentials:
    """The secret's versions, newest last: `get(refresh=True)` moves on to the next one."""

    def __init__(self, *versions: CloudflareCredentials) -> None:
        self.versions = list(versions)
        self.refreshes = 0

    def get(self, *, refresh: bool = False) -> CloudflareCredentials:
        if refresh:
            self.refreshes += 1
            if len(self.versions) > 1:
                self.versions.pop(0)
        return self.versions[0]


@dataclass
class FakeIssuer:
    """Issues `<name>:<video id>`; `answers` maps a video id to what to raise instead (an exception,
    or a function of the credentials returning one or None)."""

    name: str
    remote: bool
    answers: dict[str, Exception | Callable[[CloudflareCredentials], Exception | None]] = field(default_factory=dict)
    issued: list[tuple[TokenRequest, CloudflareCredentials, CallLimits]] = field(default_factory=list)

    def issue(self, request: TokenRequest, credentials: CloudflareCredentials, limits: CallLimits) -> str:
        self.issued.append((request, credentials, limits))
        answer = self.answers.get(request.video_id)
        failure = answer(credentials) if callable(answer) else answer
        if failure is not None:
            with limits.tripping_on_rate_limit():  # as the HTTP client does
                raise failure
        return f"{self.name}:{request.video_id}"


class FakeSecretVersions:
    """A secret's versions and staging labels, as Secrets Manager keeps them."""

    def __init__(self, current: dict[str, Any], *, rotation_enabled: bool = True) -> None:
        self._ids = (f"v{n}" for n in itertools.count())
        first = next(self._ids)
        self.values: dict[str, dict[str, Any]] = {first: current}
        self.stages: dict[str, list[str]] = {first: [AWSCURRENT]}
        self.order = [first]
        self.rotation_enabled = rotation_enabled
        self.fail_puts = 0

    def start_rotation(self) -> str:
        """What RotateSecret does first: a new version id, labelled AWSPENDING, without a value."""
        version = next(self._ids)
        for stages in self.stages.values():
            if AWSPENDING in stages:
                stages.remove(AWSPENDING)
        self.stages[version] = [AWSPENDING]
        self.order.append(version)
        return version

    def describe(self, secret_id: str) -> SecretState:
        return SecretState(self.rotation_enabled, {v: list(s) for v, s in self.stages.items() if s})

    def read(self, secret_id: str, *, version_id: str | None = None, stage: str | None = None) -> dict[str, Any] | None:
        version = version_id or next((v for v, s in self.stages.items() if stage in s), None)
        if version is None or (stage is not None and stage not in self.stages.get(version, [])):
            return None
        value = self.values.get(version)
        return None if value is None else dict(value)

    def put_pending(self, secret_id: str, version_id: str, value: dict[str, Any]) -> None:
        if self.fail_puts:
            self.fail_puts -= 1
            raise ConnectionError("Secrets Manager did not answer")
        self.values[version_id] = dict(value)

    def promote(self, secret_id: str, version_id: str, current: str | None) -> None:
        for stages in self.stages.values():
            for label in (AWSCURRENT, AWSPENDING):
                if label in stages:
                    stages.remove(label)
        self.stages[version_id] = [AWSCURRENT]

    def created_since(self, secret_id: str, version_id: str) -> list[str]:
        return self.order[self.order.index(version_id) + 1 :]

    @property
    def current(self) -> dict[str, Any]:
        value = self.read("", stage=AWSCURRENT)
        assert value is not None
        return value


class FakeSigningKeysApi:
    """Cloudflare's signing keys endpoints: real RSA keys (generated once per fake), an account's list."""

    connect_timeout = 1.0
    read_timeout = 1.0

    def __init__(self, *, keys: int = 2) -> None:
        self.pool = [new_signing_key() for _ in range(keys)]
        self.listed: set[str] = set()
        self.deleted: list[str] = []
        self.refuse_creation: Exception | None = None

    def create_signing_key(self, account_id: str, auth: dict[str, str], deadline: float) -> NewSigningKey:
        if self.refuse_creation is not None:
            raise self.refuse_creation
        key = self.pool.pop(0)
        self.listed.add(key["id"])
        return NewSigningKey(key["id"], key["pem"], key["jwk"])

    def list_signing_keys(self, account_id: str, auth: dict[str, str], deadline: float) -> set[str]:
        return set(self.listed)

    def delete_signing_key(self, account_id: str, key_id: str, auth: dict[str, str], deadline: float) -> bool:
        self.deleted.append(key_id)
        if key_id not in self.listed:
            return False
        self.listed.discard(key_id)
        return True
