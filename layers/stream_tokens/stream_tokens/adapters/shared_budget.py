"""One Cloudflare budget for the whole deployment: calls granted in leases from counts every
container shares (`CallCountsStore`: a DynamoDB item, budget_table.py). While the store fails, this
container's static `CallBudget` is the fallback when reserved concurrency bounds the containers;
without that bound there is none: every call is refused (fails closed) until the store answers.

It has `CallBudget`'s interface (`CallSpender`), so the HTTP client spends it before every attempt.
The guarantee, the leases and their cost, and the fallback: docs/design/budget-window.md.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..domain.call_limits import CallBudget, CallsUncounted
from ..domain.call_window import (
    BUCKET_SECONDS,
    LAG_BUCKETS,
    LEASE_SECONDS,
    WINDOW_BUCKETS,
    CallCounts,
    bucket_of,
    expiry,
    first_free_bucket,
    most_in_a_window,
)

MAX_LEASE = 1024
LEASE_SHARE_DIVISOR = 20  # a lease is at most this fraction of the share
MAX_RACES = 8  # lost races before a take() gives up for now (the call is refused, not failed)
CONTENDED_WAIT = 1.0
RETRY_TABLE_SECONDS = 30.0  # on the static share this long after a store error
RETRY_CLOSED_SECONDS = 5.0  # without a static share: calls refused this long after a store error


def wall_clock() -> float:
    """The clock of every budget built without one: wall-clock time, comparable across containers
    (tests of several containers speed it up in each of them)."""
    return time.time()


class BudgetStoreUnavailable(Exception):
    """The table could not be used; `reason` is an error code or class name (nothing sensitive)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallCountsStore(Protocol):
    def swap(self, expected: CallCounts, new: CallCounts, expires_at: int) -> CallCounts | None:
        """Write `new` if the stored counts are still `expected` (by version): None; otherwise the
        counts stored now (a CallCounts with version "" when there is no item). Raises
        BudgetStoreUnavailable when the store cannot be used."""
        ...


@dataclass
class _Lease:
    bucket: int = 0
    size: int = 0
    left: int = 0
    until: float = -math.inf


@dataclass
class SharedCallBudget:
    """The deployment's share of Cloudflare's API rate limit, counted in a store shared by every
    container (docs/design/budget-window.md); `fallback` is this container's conservative share,
    None when nothing bounds the containers (then a store failure refuses calls: CallsUncounted)."""

    share: int
    store: CallCountsStore
    fallback: CallBudget | None
    clock: Callable[[], float] | None = None  # None: wall_clock, read at each take()
    on_fallback: Callable[[str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _known: CallCounts = field(default_factory=CallCounts, init=False)
    _lease: _Lease = field(default_factory=_Lease, init=False)
    _next_size: int = field(default=1, init=False)
    _unspent: dict[int, int] = field(default_factory=dict, init=False)  # bucket -> calls to give back
    _unrecorded: dict[int, int] = field(default_factory=dict, init=False)  # bucket -> calls made on the fallback
    _full_until: float = field(default=-math.inf, init=False)
    _table_again_at: float = field(default=-math.inf, init=False)

    @property
    def max_lease(self) -> int:
        return max(1, min(MAX_LEASE, self.share // LEASE_SHARE_DIVISOR))

    def take(self) -> float:
        """Spend one call if the deployment has one: 0.0; otherwise the seconds until it may have."""
        with self._lock:
            now = (self.clock or wall_clock)()
            lease = self._lease
            if lease.left > 0 and now < lease.until:
                lease.left -= 1
                return 0.0
            if now < self._table_again_at:
                return self._take_fallback(now)
            if now < self._full_until:
                return self._full_until - now
            try:
                return self._take_lease(now)
            except BudgetStoreUnavailable as exc:
                self._table_again_at = now + (RETRY_CLOSED_SECONDS if self.fallback is None else RETRY_TABLE_SECONDS)
                if self.on_fallback is not None:
                    self.on_fallback(exc.reason)
                return self._take_fallback(now)

    def used_percent(self) -> float:
        """How much of the deployment's share is spent, as this container last saw the table, in
        percent (its static share's while on the fallback)."""
        with self._lock:
            now = (self.clock or wall_clock)()
            if now < self._table_again_at:
                return 100.0 if self.fallback is None else self.fallback.used_percent()
            bucket = bucket_of(now)
            spent = most_in_a_window(self._with_own_changes(self._known, bucket), bucket)
            return min(100.0, 100.0 * spent / self.share)

    def _take_fallback(self, now: float) -> float:
        if self.fallback is None:
            raise CallsUncounted(self._table_again_at - now)
        wait = self.fallback.take()
        if wait == 0.0:
            bucket = bucket_of(now)
            kept = {b: n for b, n in self._unrecorded.items() if b >= bucket - WINDOW_BUCKETS - LAG_BUCKETS}
            self._unrecorded = kept | {bucket: kept.get(bucket, 0) + 1}  # the window's only: a long outage stays small
        return wait

    def _take_lease(self, now: float) -> float:
        bucket = bucket_of(now)
        self._close_lease(now)
        counts = self._known
        for _ in range(MAX_RACES):
            buckets = self._with_own_changes(counts, bucket)
            room = self.share - most_in_a_window(buckets, bucket)
            if room < 1:
                self._known = counts
                self._full_until = first_free_bucket(buckets, bucket, self.share) * BUCKET_SECONDS
                return max(self._full_until - now, 0.001)
            size = min(self._next_size, room)
            buckets[bucket] = buckets.get(bucket, 0) + size
            new = CallCounts.from_buckets(buckets, secrets.token_hex(8))
            seen = self.store.swap(counts, new, expires_at=expiry(new))
            if seen is None:
                return self._granted(new, _Lease(bucket, size, size, now + LEASE_SECONDS))
            counts = seen
        self._known = counts
        return CONTENDED_WAIT

    def _granted(self, counts: CallCounts, lease: _Lease) -> float:
        """The write went through: take the lease's first call, unless the write outlasted the
        lease (then its calls are given back with the next write, and this call is refused)."""
        self._known = counts
        self._unspent.clear()
        self._unrecorded.clear()
        self._lease = lease
        if (self.clock or wall_clock)() >= lease.until:
            return CONTENDED_WAIT
        lease.left -= 1
        return 0.0

    def _close_lease(self, now: float) -> None:
        """The lease in hand is over (spent or expired): note its unspent calls and size the next."""
        lease = self._lease
        if lease.size == 0:
            return
        if lease.left > 0:
            self._unspent[lease.bucket] = self._unspent.get(lease.bucket, 0) + lease.left
            self._next_size = max(1, self._next_size // 2)
        elif now < lease.until:
            self._next_size = min(self.max_lease, self._next_size * 2)
        self._lease = _Lease()

    def _with_own_changes(self, counts: CallCounts, bucket: int) -> dict[int, int]:
        """`counts` by bucket, without the buckets no later grant can share, with this container's
        unspent lease calls given back and its calls made on the fallback added."""
        oldest = bucket - WINDOW_BUCKETS - LAG_BUCKETS
        buckets = {b: n for b, n in counts.by_bucket().items() if b >= oldest}
        for b, n in self._unspent.items():
            if b in buckets:
                buckets[b] = max(0, buckets[b] - n)
        for b, n in self._unrecorded.items():
            if b >= oldest:
                buckets[b] = buckets.get(b, 0) + n
        return buckets
