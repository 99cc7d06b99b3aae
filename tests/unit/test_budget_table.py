"""The deployment-wide Cloudflare call budget (adapters.shared_budget, domain.call_window): the algorithm, with a fake
clock and an in-memory store that swaps versions atomically as DynamoDB's conditional writes do."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from localdev.standins import cloudflare_double
from stream_tokens.adapters import shared_budget
from stream_tokens.adapters.shared_budget import BudgetStoreUnavailable, SharedCallBudget
from stream_tokens.domain.call_limits import CallBudget, CallsUncounted
from stream_tokens.domain.call_window import (
    BUCKET_SECONDS,
    LAG_BUCKETS,
    LEASE_SECONDS,
    SEND_SLACK_SECONDS,
    SPAN_SECONDS,
    WINDOW_BUCKETS,
    CallCounts,
)
from tests.support.clock import Clock


class MemoryStore:
    """One item, compare-and-swap on its version (what the conditional PutItem does)."""

    def __init__(self) -> None:
        self.counts = CallCounts()
        self.writes = 0
        self.races_lost = 0
        self.failing: str | None = None
        self.lock = threading.Lock()

    def swap(self, expected: CallCounts, new: CallCounts, expires_at: int) -> CallCounts | None:
        with self.lock:
            if self.failing:
                raise BudgetStoreUnavailable(self.failing)
            if self.counts.version != expected.version:
                self.races_lost += 1
                return self.counts
            assert expires_at > (new.first + len(new.calls)) * BUCKET_SECONDS
            self.counts = new
            self.writes += 1
            return None


def no_fallback() -> CallBudget:
    return CallBudget(per_second=0.0, burst=0.0)  # max(1, burst): one call, then never again


def container(store: MemoryStore, clock: Clock, share: int = 20, fallback: CallBudget | None = None, **kw):
    return SharedCallBudget(share, store, fallback or no_fallback(), clock=clock, **kw)


def most_in_any_span(times: list[float]) -> int:
    return cloudflare_double.most_in_any_span(times, SPAN_SECONDS)


def test_one_container_alone_spends_the_whole_share_then_waits_for_the_first_free_bucket():
    clock, store = Clock(), MemoryStore()
    budget = container(store, clock, share=20)
    assert [budget.take() for _ in range(20)] == [0.0] * 20
    wait = budget.take()
    first_bucket = int(clock.now // BUCKET_SECONDS)
    assert wait == pytest.approx((first_bucket + WINDOW_BUCKETS) * BUCKET_SECONDS - clock.now)
    assert SPAN_SECONDS < wait <= SPAN_SECONDS + BUCKET_SECONDS + LEASE_SECONDS + SEND_SLACK_SECONDS + BUCKET_SECONDS
    writes = store.writes
    clock.now += wait / 2
    assert budget.take() > 0  # still full: known without asking the table
    assert store.writes == writes
    assert store.races_lost == 0
    clock.now += wait / 2
    assert budget.take() == 0.0


def test_containers_sharing_the_store_never_exceed_the_share_in_any_sliding_span():
    """Five containers with their own lease state, calling at random moments over 40 minutes."""
    rng = random.Random(13)
    clock, store = Clock(), MemoryStore()
    budgets = [container(store, clock, share=60) for _ in range(5)]
    granted: list[float] = []
    end = clock.now + 2400
    while clock.now < end:
        clock.now += rng.expovariate(1.0)  # about one call a second: 300 per span against 60
        if rng.choice(budgets).take() == 0.0:
            granted.append(clock.now)
    assert most_in_any_span(granted) <= 60
    assert len(granted) >= 60 * 2400 // (WINDOW_BUCKETS * BUCKET_SECONDS + BUCKET_SECONDS)  # the share is used


def test_threads_taking_at_once_get_exactly_the_share():
    clock, store = Clock(), MemoryStore()
    budgets = [container(store, clock, share=50) for _ in range(4)]
    granted = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def flood(budget: SharedCallBudget) -> None:
        start.wait()
        for _ in range(40):
            if budget.take() == 0.0:
                with lock:
                    granted.append(1)

    threads = [threading.Thread(target=flood, args=(budgets[i % 4],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 50  # none over, none lost
    assert sum(store.counts.calls) == 50


def test_leases_grow_under_load_so_the_table_is_written_far_less_than_once_a_call():
    clock, store = Clock(), MemoryStore()
    budget = container(store, clock, share=100_000)
    for _ in range(5000):
        assert budget.take() == 0.0
        clock.now += 0.001
    assert budget.max_lease == shared_budget.MAX_LEASE
    assert store.writes < 20


def test_calls_a_lease_did_not_spend_are_given_back():
    clock, store = Clock(), MemoryStore()
    budget = container(store, clock, share=400)  # leases up to 20
    for _ in range(10):  # leases of 1, 2 and 4, then 3 calls of a lease of 8
        assert budget.take() == 0.0
    assert sum(store.counts.calls) == 15
    clock.now += LEASE_SECONDS + 1  # the lease of 8 expires with 5 calls unspent
    assert budget.take() == 0.0
    assert sum(store.counts.calls) == 15 - 5 + 4  # given back; the next lease is half the size


def test_a_store_that_fails_puts_the_container_on_its_static_share_then_back_on_the_table():
    clock, store = Clock(), MemoryStore()
    reasons: list[str] = []
    static = CallBudget(per_second=0.01, burst=3, clock=clock)
    budget = container(store, clock, share=20, fallback=static, on_fallback=reasons.append)
    store.failing = "ProvisionedThroughputExceededException"
    assert [budget.take() for _ in range(3)] == [0.0] * 3  # the static split's burst
    assert budget.take() > 0
    assert reasons == ["ProvisionedThroughputExceededException"]  # once, not once a call
    store.failing = None
    clock.now += shared_budget.RETRY_TABLE_SECONDS - 1
    assert budget.take() > 0
    assert store.writes == 0
    clock.now += 1
    assert budget.take() == 0.0  # the table again
    assert sum(store.counts.calls) == 3 + 1  # with the calls made while it failed


def test_without_a_static_share_a_failing_store_refuses_every_call_until_it_answers():
    clock, store = Clock(), MemoryStore()
    reasons: list[str] = []
    budget = SharedCallBudget(20, store, None, clock=clock, on_fallback=reasons.append)
    store.failing = "ResourceNotFoundException"
    for _ in range(3):
        with pytest.raises(CallsUncounted) as refused:
            budget.take()
        assert 0 < refused.value.wait <= shared_budget.RETRY_CLOSED_SECONDS
    assert reasons == ["ResourceNotFoundException"]  # once, not once a call
    assert budget.used_percent() == 100.0
    store.failing = None
    clock.now += shared_budget.RETRY_CLOSED_SECONDS
    assert budget.take() == 0.0  # the table again
    assert sum(store.counts.calls) == 1  # no call was made meanwhile


def test_racing_forever_refuses_the_call_for_now_instead_of_failing():
    class AlwaysLost(MemoryStore):
        def swap(self, expected, new, expires_at):
            self.races_lost += 1
            return CallCounts(f"v{self.races_lost}")

    store = AlwaysLost()
    budget = container(store, Clock(), share=20)
    assert budget.take() == shared_budget.CONTENDED_WAIT
    assert store.races_lost == shared_budget.MAX_RACES


def test_a_container_whose_clock_lags_still_counts_the_calls_of_one_ahead():
    store = MemoryStore()
    ahead, behind = Clock(), Clock()
    behind.now -= 8  # within the documented lag
    first, second = container(store, ahead, share=10), container(store, behind, share=10)
    assert [first.take() for _ in range(10)] == [0.0] * 10
    assert second.take() > 0


def test_a_write_that_outlasts_the_lease_voids_it_and_gives_its_calls_back():
    clock = Clock()

    class Slow(MemoryStore):
        def swap(self, expected, new, expires_at):
            clock.now += LEASE_SECONDS  # the write took the lease's whole life
            return super().swap(expected, new, expires_at)

    store = Slow()
    budget = container(store, clock, share=20)
    assert budget.take() == shared_budget.CONTENDED_WAIT  # no call goes out late
    assert sum(store.counts.calls) == 1
    assert budget.take() == shared_budget.CONTENDED_WAIT
    assert sum(store.counts.calls) == 1  # the void lease's call given back, the new one counted


def test_a_long_outage_keeps_only_the_calls_a_window_can_still_see():
    clock, store = Clock(), MemoryStore()
    store.failing = "ThrottlingException"
    static = CallBudget(per_second=1.0, burst=60, clock=clock)  # the static split of 600 (one function)
    budget = container(store, clock, share=600, fallback=static)
    for _ in range(3600):  # an hour on the static share, a call a second
        assert budget.take() == 0.0
        clock.now += 1
    assert len(budget._unrecorded) <= WINDOW_BUCKETS + LAG_BUCKETS + 1  # memory: the window's
    store.failing = None
    clock.now += shared_budget.RETRY_TABLE_SECONDS
    budget.take()
    recorded = store.counts.by_bucket()
    assert min(recorded) >= int(clock.now // BUCKET_SECONDS) - WINDOW_BUCKETS - LAG_BUCKETS
    assert sum(recorded.values()) <= (WINDOW_BUCKETS + LAG_BUCKETS + 1) * BUCKET_SECONDS + 1


def test_the_share_used_is_the_deployments_as_last_seen_or_the_static_shares_on_the_fallback():
    clock, store = Clock(), MemoryStore()
    static = CallBudget(per_second=0.01, burst=4, clock=clock)
    budget = container(store, clock, share=20, fallback=static)
    for _ in range(5):
        budget.take()
    assert budget.used_percent() == pytest.approx(25.0)  # 5 of 20
    store.failing = "ThrottlingException"
    clock.now += LEASE_SECONDS + 1
    budget.take()  # the table fails: one call of the static share's 4
    assert budget.used_percent() == pytest.approx(25.0, abs=1)
    budget.take()
    assert budget.used_percent() == pytest.approx(50.0, abs=1)


# -- the table's requests: plain signed requests with the adapter's timeouts (no client) --------
PLAIN_ENV = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "eu-west-1"}


def plain_table(monkeypatch: pytest.MonkeyPatch, *answers: tuple[int, dict]) -> tuple[Any, list]:
    """A DynamoDbCallCounts in a plain setting whose requests get `answers`, in turn; the calls made."""
    from stream_tokens.adapters import aws_request, budget_table

    calls: list[tuple[str, dict, object]] = []

    def call(service: object, action: str, payload: dict, env: object, timeout: object) -> tuple[int, dict]:
        calls.append((action, payload, timeout))
        return answers[len(calls) - 1]

    monkeypatch.setattr(aws_request, "call", call)
    table = budget_table.DynamoDbCallCounts("calls", env=PLAIN_ENV)
    monkeypatch.setattr(table.calls, "client", lambda: pytest.fail("no client in a plain setting"))
    return table, calls


def test_a_write_is_one_plain_put_item_with_the_adapters_timeouts(monkeypatch):
    table, calls = plain_table(monkeypatch, (200, {}))
    assert table.swap(CallCounts(), CallCounts.from_buckets({10: 1}, "v1"), expires_at=10**10) is None
    [(action, payload, timeout)] = calls
    assert (action, payload["ConditionExpression"], timeout) == ("PutItem", "attribute_not_exists(#key)", (0.5, 0.5))


def test_a_lost_race_reads_the_item_dynamodb_returned_with_the_refusal(monkeypatch):
    stored = {"version": {"S": "v2"}, "first": {"N": "10"}, "calls": {"L": [{"N": "3"}]}}
    refusal = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "Item": stored}
    table, calls = plain_table(monkeypatch, (400, refusal))
    seen = table.swap(CallCounts("v1", 10, (1,)), CallCounts("v3", 10, (2,)), expires_at=10**10)
    assert seen == CallCounts("v2", 10, (3,))
    assert len(calls) == 1  # no GetItem: the refusal carried the item
