"""Quota counters: tokens per caller per window (docs/policy.md, "Quotas").

Windows are fixed: window k covers [k * window, (k + 1) * window) seconds of the epoch, so a caller
can mint at most twice a quota across one window's edge. `ContainerQuotas` counts in this container
alone (a deployment without a table: make run, tests); `adapters.quota_table` counts across
containers in DynamoDB.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ..domain.policy import Quota, Spent


class _Store(Protocol):
    """A count across containers (adapters.quota_table): services.ports' QuotaCounter."""

    def take(self, key: str, count: int, quota: Quota) -> Spent: ...


def window_of(now: float, quota: Quota) -> tuple[int, int]:
    """(the window's start, seconds until it ends) at `now`."""
    start = math.floor(now / quota.window_seconds) * quota.window_seconds
    return start, max(1, math.ceil(start + quota.window_seconds - now))


class ContainerQuotas:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._used: dict[str, tuple[int, int]] = {}  # key: (window start, tokens used)
        self._lock = threading.Lock()

    def take(self, key: str, count: int, quota: Quota) -> Spent:
        with self._lock:
            start, left = window_of(self._clock(), quota)
            window, used = self._used.get(key, (start, 0))
            used = used if window == start else 0
            granted = max(0, min(count, quota.tokens - used))
            self._used[key] = (start, used + granted)
        return Spent(granted, 0 if granted == count else left)


LEASE = 10  # tokens taken ahead from the shared count, at most a tenth of the quota


class LeasedQuotas:
    """Takes a caller's tokens from `store` (counted across containers) a lease at a time: up to
    LEASE more than asked (a tenth of the quota at most), held here for the window, so that most
    requests are counted without a call to the store. Never more than the quota is granted; a
    caller may be refused up to a lease early for each container holding some of theirs."""

    def __init__(self, store: _Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._held: dict[str, tuple[int, int]] = {}  # key: (window start, tokens held)
        self._lock = threading.Lock()

    def take(self, key: str, count: int, quota: Quota) -> Spent:
        start, left = window_of(self._clock(), quota)
        with self._lock:
            window, held = self._held.get(key, (start, 0))
            held = held if window == start else 0
            if held >= count:
                self._held[key] = (start, held - count)
                return Spent(count)
        spent = self._store.take(key, count - held + min(LEASE, quota.tokens // 10), quota)
        total = held + spent.granted
        granted = min(count, total)
        with self._lock:
            self._held[key] = (start, total - granted)
        return Spent(granted, 0 if granted == count else spent.retry_after or left)
