"""One Cloudflare budget for the whole deployment, counted in a DynamoDB table.

`SharedCallBudget.take()` has `CallBudget`'s interface (0.0: spend one call now; else the seconds
until one is free), so `cloudflare_api` spends it before every request and every retry unchanged.
Only calls to Cloudflare reach it: a token signed locally never touches the table.

The guarantee
-------------
In no 5-minute span, sliding, does the deployment send Cloudflare more than its share
(UPSTREAM_CALLS_PER_5_MINUTES), retries included, however many containers of however many functions
share the table; one container alone can spend the whole share.

How the calls are counted
-------------------------
One item per deployment holds the count of calls granted in each 5-second *bucket* of wall-clock
time (a list of small numbers, starting at bucket `first`), a random version string and a TTL. A
container takes a *lease* of n calls (n >= 1) by writing the item back with n added to the current
bucket, conditioned on the version it read (optimistic concurrency: PutItem with
`ConditionExpression: version = :read`, or `attribute_not_exists` for a new item). DynamoDB applies
conditional writes to one item one at a time, so the versions form a chain and every grant is
checked against every grant before it: no two containers can both spend the last call. A write that
loses the race gets the item as it now is in the same answer (ReturnValuesOnConditionCheckFailure =
ALL_OLD; a GetItem when the answer carries none) and tries again on that.

Why this bounds every sliding span: a lease written in bucket b (its clock read before the write)
spends its calls within LEASE_SECONDS of that (a write that outlasts it voids the lease), and each
call reaches Cloudflare within SEND_SLACK_SECONDS of being taken (a call is taken right before it
is sent, a retry's after its backoff or Retry-After: what remains is connecting and sending, within
the invocation's deadline, so within the function's 15 s timeout; plus 1 s for clocks: Lambda hosts
keep time with the Amazon Time Sync Service). So the calls of
bucket b reach Cloudflare in [b*B, b*B + B + LEASE + SLACK). A span [s, s + 300) can only see the
calls of buckets b with b*B in (s - B - LEASE - SLACK, s + 300): at most WINDOW_BUCKETS = ceil((300
+ B + LEASE + SLACK) / B) consecutive buckets. A lease is granted only if, for every run of
WINDOW_BUCKETS consecutive buckets that contains its bucket, the counts plus n stay within the
share; by induction over the chain of versions, every such run stays within the share, hence every
span does. Buckets older than any run a new grant can share (with LAG_BUCKETS of margin for a
container whose clock or write lags) are dropped. Calls a lease did not spend are given back
(subtracted from their bucket) with the container's next write: the record never counts fewer calls
than were made. The price of the margin is throughput, not safety: a flood gets the share at once,
then the share again about every WINDOW_BUCKETS * B (335 s) instead of every 300 s.

Leases and cost
---------------
A lease is one write; a call spent from a lease in hand costs nothing but a lock. The lease starts
at 1 call (no waste when calls are rare) and doubles each time a lease is spent before it expires,
up to 1/20 of the share (at most MAX_LEASE), and halves when one expires unspent. A container that
learned the share is used up waits, without asking the table, until the first bucket that frees a
call. The item holds about 70 numbers of 1 to 3 digits: under 1 KB, so each write is 1 write request
unit (WRU) and the rare GetItem half or one read request unit. Per 1,000 Cloudflare calls: at most
1,000 writes when every lease is one call (calls more than LEASE_SECONDS apart), far fewer under
load, plus one write per lost race (a failed conditional write is charged like a write). The README
gives the dollar figure.

When the table fails
--------------------
Any error from DynamoDB (a ClientError: throttling, ProvisionedThroughputExceeded, a missing table,
access denied; a connection error or a timeout, both bounded by the client's Config) puts the
container on its conservative share for RETRY_TABLE_SECONDS: `CallBudget`, today's static split of
the share across functions and reserved containers. It is logged (a warning with the error's code,
nothing else) and counted (metric BudgetStoreFallback); minting goes on, never a 5xx because of the
table. After that time the table is tried again; the calls made meanwhile are added to their buckets
with the next write, so the deployment's record stays whole.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..domain.call_limits import CallBudget, CallSpender

SPAN_SECONDS = 300  # Cloudflare counts calls per 5 minutes
BUCKET_SECONDS = 5
LEASE_SECONDS = 10  # calls of a lease are spent within this long of its grant, or given back
SEND_SLACK_SECONDS = 16  # take() -> the request at Cloudflare: the minting functions' 15 s timeout + 1 s of clocks
WINDOW_BUCKETS = math.ceil((SPAN_SECONDS + BUCKET_SECONDS + LEASE_SECONDS + SEND_SLACK_SECONDS) / BUCKET_SECONDS)
LAG_BUCKETS = 2  # buckets kept beyond the window for a container whose clock or write lags
MAX_LEASE = 1024
LEASE_SHARE_DIVISOR = 20  # a lease is at most this fraction of the share
MAX_RACES = 8  # lost races before a take() gives up for now (the call is refused, not failed)
CONTENDED_WAIT = 1.0
RETRY_TABLE_SECONDS = 30.0  # on the static share this long after a table error
CONNECT_TIMEOUT_SECONDS = 0.5  # DynamoDB's, per attempt (two attempts): then the static share
READ_TIMEOUT_SECONDS = 0.5
KEY_ATTRIBUTE = "budget"  # template.yaml's KeySchema
TTL_ATTRIBUTE = "expires_at"  # template.yaml's TimeToLiveSpecification
BUDGET_KEY = "cloudflare-api-calls"


def wall_clock() -> float:
    """The clock of every budget built without one: wall-clock time, comparable across containers
    (tests of several containers speed it up in each of them)."""
    return time.time()


class BudgetStoreUnavailable(Exception):
    """The table could not be used; `reason` is an error code or class name (nothing sensitive)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    container (see the module's docstring); `fallback` is this container's conservative share."""

    share: int
    store: CallCountsStore
    fallback: CallBudget
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
                self._table_again_at = now + RETRY_TABLE_SECONDS
                if self.on_fallback is not None:
                    self.on_fallback(exc.reason)
                return self._take_fallback(now)

    def used_percent(self) -> float:
        """How much of the deployment's share is spent, as this container last saw the table, in
        percent (its static share's while on the fallback)."""
        with self._lock:
            now = (self.clock or wall_clock)()
            if now < self._table_again_at:
                return self.fallback.used_percent()
            bucket = _bucket(now)
            spent = most_in_a_window(self._with_own_changes(self._known, bucket), bucket)
            return min(100.0, 100.0 * spent / self.share)

    def _take_fallback(self, now: float) -> float:
        wait = self.fallback.take()
        if wait == 0.0:
            bucket = _bucket(now)
            kept = {b: n for b, n in self._unrecorded.items() if b >= bucket - WINDOW_BUCKETS - LAG_BUCKETS}
            self._unrecorded = kept | {bucket: kept.get(bucket, 0) + 1}  # the window's only: a long outage stays small
        return wait

    def _take_lease(self, now: float) -> float:
        bucket = _bucket(now)
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
            seen = self.store.swap(counts, new, expires_at=_expiry(new))
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


def _bucket(now: float) -> int:
    return math.floor(now / BUCKET_SECONDS)


def _expiry(counts: CallCounts) -> int:
    """When the item is worthless (its last bucket out of every window): its TTL."""
    last = counts.first + len(counts.calls)
    return (last + WINDOW_BUCKETS + LAG_BUCKETS + 1) * BUCKET_SECONDS


class DynamoDbCallCounts:
    """The counts in a DynamoDB table (one item), through a client made on first use."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._client: Any = None
        self._client_lock = threading.Lock()
        try:  # now, as a first call to Cloudflare is about to be made: not inside the time a take() counts
            self.client()
        except Exception:  # made again on first use, where a failure means the fallback
            self._client = None

    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3  # noqa: PLC0415 - only once a call to Cloudflare is about to be made
                from botocore.config import Config  # noqa: PLC0415

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "total_max_attempts": 2},
                    max_pool_connections=4,
                )
                self._client = boto3.client("dynamodb", config=config)
            return self._client

    def swap(self, expected: CallCounts, new: CallCounts, expires_at: int) -> CallCounts | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": KEY_ATTRIBUTE}}
            if not expected.version
            else {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": {"S": expected.version}},
            }
        )
        try:
            self.client().put_item(
                TableName=self.table_name,
                Item=_item(new, expires_at),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition,
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise BudgetStoreUnavailable(_code(exc)) from None
            item = exc.response.get("Item")
            return _counts(item) if isinstance(item, dict) and item else self._read()
        except BotoCoreError as exc:
            raise BudgetStoreUnavailable(type(exc).__name__) from None

    def _read(self) -> CallCounts:
        """The stored counts (a lost race whose answer carried no item: maybe there is none)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            answer = self.client().get_item(
                TableName=self.table_name, Key={KEY_ATTRIBUTE: {"S": BUDGET_KEY}}, ConsistentRead=True
            )
        except ClientError as exc:
            raise BudgetStoreUnavailable(_code(exc)) from None
        except BotoCoreError as exc:
            raise BudgetStoreUnavailable(type(exc).__name__) from None
        item = answer.get("Item")
        return _counts(item) if item else CallCounts()


def _item(counts: CallCounts, expires_at: int) -> dict[str, Any]:
    return {
        KEY_ATTRIBUTE: {"S": BUDGET_KEY},
        "version": {"S": counts.version},
        "first": {"N": str(counts.first)},
        "calls": {"L": [{"N": str(n)} for n in counts.calls]},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
    }


def _counts(item: Mapping[str, Any]) -> CallCounts:
    try:
        return CallCounts(item["version"]["S"], int(item["first"]["N"]), tuple(int(n["N"]) for n in item["calls"]["L"]))
    except (KeyError, TypeError, ValueError):
        raise BudgetStoreUnavailable("UnreadableItem") from None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)[:64]


def shared_call_budget(table_name: str, share: int, fallback: CallBudget) -> CallSpender:
    """The deployment-wide budget of `share` calls in any 5 minutes when a table is named; else
    `fallback` alone (this container's static split)."""
    if not table_name:
        return fallback
    from ..observability import budget_store_fallback  # noqa: PLC0415

    return SharedCallBudget(share, DynamoDbCallCounts(table_name), fallback, on_fallback=budget_store_fallback)
