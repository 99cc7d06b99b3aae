"""What one call to Cloudflare may spend: this container's share of Cloudflare's API rate limit
(`CallBudget`, or any `CallSpender`), the call's deadline, and a batch's stop at its first 429.

Plain values and arithmetic: the services, the runtime and the HTTP client share them without
loading `requests`, which a container that only signs locally never needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from .errors import RateLimited


class CallSpender(Protocol):
    """What a call to Cloudflare spends from: this container's CallBudget, or the deployment's
    shared budget (adapters.shared_budget)."""

    def take(self) -> float:
        """Spend one call if there is one: 0.0; otherwise the seconds until there is one. Raises
        CallsUncounted when the calls cannot be counted and nothing else bounds them."""
        ...

    def used_percent(self) -> float:
        """How much of the share is spent, in percent (100: the next call waits)."""
        ...


class CallsUncounted(Exception):
    """A `CallSpender` that cannot count the deployment's calls, with nothing else to bound them,
    refuses the call: `wait` seconds until it tries to count again (docs/design/budget-window.md)."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"calls to Cloudflare cannot be counted for {wait:.1f} s")
        self.wait = wait


class CallBudget:
    """This container's share of Cloudflare's API rate limit: a thread-safe token bucket.

    Cloudflare allows 1,200 calls per 5 minutes per user across its whole API and refuses every
    call for 5 minutes past that; this keeps the deployment's calls under the share it is given.
    """

    def __init__(self, per_second: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = max(1.0, burst)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Spend one call if there is one: 0.0; otherwise the seconds until there is one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.per_second if self.per_second > 0 else math.inf

    def used_percent(self) -> float:
        """How much of the share is spent as of the last call, in percent (100: the next call waits)."""
        with self._lock:
            return 100.0 * max(0.0, 1 - self._tokens / self.burst)


class RateLimitHalt:
    """Shared by the calls of one batch: the first rate-limit refusal trips it, and from then on
    no call of the batch retries, and the items not yet sent are not sent.

    Only the HTTP client trips it (`CallLimits.tripping_on_rate_limit`); the batch reads it."""

    def __init__(self) -> None:
        self._tripped = threading.Event()
        self.retry_after: int | None = None

    def trip(self, retry_after: int | None) -> None:
        if not self._tripped.is_set():
            self.retry_after = retry_after
        self._tripped.set()

    @property
    def tripped(self) -> bool:
        return self._tripped.is_set()


@dataclass(frozen=True)
class CallLimits:
    """What bounds one call to Cloudflare, handed to the HTTP client as an argument."""

    deadline: float
    """time.monotonic() by which the call, retries included, must be over."""
    halt: RateLimitHalt | None = None
    """The batch's halt, if the call is one of a batch's."""

    @property
    def halted(self) -> bool:
        return self.halt is not None and self.halt.tripped

    @contextmanager
    def tripping_on_rate_limit(self) -> Iterator[None]:
        """A RateLimited raised inside trips the batch's halt (then propagates)."""
        try:
            yield
        except RateLimited as limited:
            if self.halt is not None:
                self.halt.trip(limited.retry_after)
            raise
