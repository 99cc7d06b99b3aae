"""What calls to Cloudflare may spend: this container's share of Cloudflare's API rate limit, and
a batch's stop at Cloudflare's first 429.

Free of HTTP imports: the service and the runtime use these without loading `requests`, which a
container that only signs locally never needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


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


_halt: ContextVar[threading.Event | None] = ContextVar("cloudflare_rate_limit_halt", default=None)


@contextmanager
def halt_on_rate_limit(halt: threading.Event) -> Iterator[None]:
    """Calls made inside share `halt`: a 429 to any of them sets it, and then none retries again
    (a batch stops hammering Cloudflare at its first 429)."""
    token = _halt.set(halt)
    try:
        yield
    finally:
        _halt.reset(token)


def current_halt() -> threading.Event | None:
    """The halt shared by the calls of the batch being served, if any."""
    return _halt.get()
