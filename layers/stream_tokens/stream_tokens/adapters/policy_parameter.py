"""The minting policy from an SSM parameter (docs/policy.md, "Where the policy lives").

The parameter is read at most once per `max_age` seconds per container, so a change takes effect
within `max_age` (plus the time a request takes). A document that fails its schema never loads:
the last good policy stays in force, and the failure is logged and counted (metric PolicyRejected,
alarmed). With no good policy yet (a cold container), minting fails closed: a ConfigurationError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import observability
from ..domain.errors import ConfigurationError
from ..domain.policy import Policy
from ..domain.policy_document import Ceilings, PolicyInvalid, parse_policy


class PolicyParameter:
    def __init__(
        self,
        name: str,
        max_age: int,
        ceilings: Ceilings,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_age = max_age
        self.ceilings = ceilings
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._version: object = None
        self._read_again_at = 0.0

    def current(self) -> Policy:
        """The policy in force: the parameter's document, read again once `max_age` has passed."""
        with self._lock:
            now = self._clock()
            if self._policy is None or now >= self._read_again_at:
                self._read_again_at = now + self.max_age
                self._refresh()
            if self._policy is None:
                raise ConfigurationError(f"no valid minting policy in SSM parameter {self.name}")
            return self._policy

    def _refresh(self) -> None:
        try:
            text, version = self._read()
        except ConfigurationError as unreadable:
            if self._policy is None:
                raise
            observability.logger.warning(
                "policy parameter unreadable; the last good policy stays", extra={"detail": unreadable.detail}
            )
            return
        if version == self._version and self._policy is not None:
            return
        try:
            self._policy = parse_policy(text, self.ceilings, source=f"{self.name}:{version}")
        except PolicyInvalid as invalid:
            observability.policy_rejected(f"{self.name} version {version}: {invalid}")
            return
        self._version = version
        observability.logger.info("minting policy loaded", extra={"source": self._policy.source})

    def _read(self) -> tuple[str, object]:
        if self._client is None:
            import botocore.session  # noqa: PLC0415 - only a deployment with a policy parameter reads SSM

            self._client = botocore.session.get_session().create_client("ssm")
        try:
            answer = self._client.get_parameter(Name=self.name)["Parameter"]
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationError(f"cannot read the policy parameter {self.name}: {type(exc).__name__}") from None
        return str(answer.get("Value", "")), answer.get("Version")
