"""The deployment's calls to Cloudflare counted per 5-second bucket, and the sliding-window
arithmetic that keeps every 5-minute span within the share (pure: the store is an adapter's).

Why a run of WINDOW_BUCKETS buckets bounds every sliding span: docs/design/budget-window.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

SPAN_SECONDS = 300  # Cloudflare counts calls per 5 minutes
BUCKET_SECONDS = 5
LEASE_SECONDS = 10  # calls of a lease are spent within this long of its grant, or given back
SEND_SLACK_SECONDS = 16  # take() -> the request at Cloudflare: the minting functions' 15 s timeout + 1 s of clocks
WINDOW_BUCKETS = math.ceil((SPAN_SECONDS + BUCKET_SECONDS + LEASE_SECONDS + SEND_SLACK_SECONDS) / BUCKET_SECONDS)
LAG_BUCKETS = 2  # buckets kept beyond the window for a container whose clock or write lags


@dataclass(frozen=True)
class CallCounts:
    """The deployment's calls per bucket, as one version of the item holds them."""

    version: str = ""  # "" = no item yet
    first: int = 0  # bucket index of calls[0]
    calls: tuple[int, ...] = ()

    def by_bucket(self) -> dict[int, int]:
        return {self.first + i: n for i, n in enumerate(self.calls) if n}

    @classmethod
    def from_buckets(cls, buckets: Mapping[int, int], version: str) -> CallCounts:
        kept = {b: n for b, n in buckets.items() if n > 0}
        if not kept:
            return cls(version)
        first = min(kept)
        return cls(version, first, tuple(kept.get(b, 0) for b in range(first, max(kept) + 1)))


def most_in_a_window(buckets: Mapping[int, int], bucket: int) -> int:
    """The most calls any run of WINDOW_BUCKETS consecutive buckets containing `bucket` holds."""
    first_start = bucket - WINDOW_BUCKETS + 1
    total = sum(buckets.get(b, 0) for b in range(first_start, bucket + 1))
    most = total
    for start in range(first_start + 1, bucket + 1):  # slide the run one bucket later
        total += buckets.get(start + WINDOW_BUCKETS - 1, 0) - buckets.get(start - 1, 0)
        most = max(most, total)
    return most


def first_free_bucket(buckets: Mapping[int, int], bucket: int, share: int) -> int:
    """The first bucket after `bucket` in which one more call fits, these counts given."""
    last = max(buckets, default=bucket)
    candidate = bucket + 1
    while candidate <= last + WINDOW_BUCKETS and most_in_a_window(buckets, candidate) >= share:
        candidate += 1
    return candidate  # past `last` + WINDOW_BUCKETS, no run holds any call


def bucket_of(now: float) -> int:
    """The 5-second bucket a moment (wall-clock seconds) falls in."""
    return math.floor(now / BUCKET_SECONDS)


def expiry(counts: CallCounts) -> int:
    """When the item is worthless (its last bucket out of every window): its TTL."""
    last = counts.first + len(counts.calls)
    return (last + WINDOW_BUCKETS + LAG_BUCKETS + 1) * BUCKET_SECONDS
