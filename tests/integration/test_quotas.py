"""Quotas counted across containers: the table in moto's DynamoDB (a plain signed UpdateItem, and
botocore's client where the setting is not plain), and the counter of a deployment without one."""

from __future__ import annotations

import threading
import uuid

import pytest

from localdev.standins import stack
from stream_tokens.adapters.quota_table import QuotaTable
from stream_tokens.adapters.quotas import ContainerQuotas, LeasedQuotas, window_of
from stream_tokens.domain.errors import QuotaUnavailable
from stream_tokens.domain.policy import Quota, Spent
from tests.support.clock import Clock

QUOTA = Quota(tokens=10, window_seconds=300)
START = 1_800_000_000 - 1_800_000_000 % 300  # a window's start


@pytest.fixture
def plain_env(moto_endpoint):
    """As Lambda sets the environment up, pointed at moto."""
    return stack.FAKE_AWS_ENV | {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint}


@pytest.fixture
def table(moto_endpoint) -> str:
    return stack.create_budget_table(moto_endpoint, f"quota-{uuid.uuid4().hex[:8]}")["UPSTREAM_BUDGET_TABLE"]


def test_a_window_is_fixed_and_says_when_it_ends():
    assert window_of(START + 10, QUOTA) == (START, 290)
    assert window_of(START + 300, QUOTA) == (START + 300, 300)


@pytest.mark.parametrize("env_of", [lambda plain: plain, lambda plain: plain | {"AWS_PROFILE": "other"}])
def test_the_table_grants_up_to_the_quota_then_what_fits_then_nothing_until_the_next_window(
    table, plain_env, aws_calls, env_of, monkeypatch, moto_endpoint
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)  # where botocore's client looks
    clock = Clock(START + 100)
    quotas = QuotaTable(table, clock=clock, env=env_of(plain_env))
    updates = aws_calls.count("DynamoDB_20120810.UpdateItem")
    assert quotas.take("quota#r#alice", 6, QUOTA) == Spent(6)
    assert quotas.take("quota#r#alice", 6, QUOTA) == Spent(4, 200)  # the room left, and when the window ends
    assert quotas.take("quota#r#alice", 1, QUOTA) == Spent(0, 200)
    assert quotas.take("quota#r#bob", 1, QUOTA) == Spent(1)  # each caller their own
    assert aws_calls.count("DynamoDB_20120810.UpdateItem") == updates + 5  # a partial grant takes two
    clock.now = START + 300
    assert quotas.take("quota#r#alice", 10, QUOTA) == Spent(10)


def test_containers_racing_for_the_last_tokens_never_pass_the_quota(table, plain_env):
    granted: list[int] = []
    clock = Clock(START + 1)

    def container() -> None:
        quotas = QuotaTable(table, clock=clock, env=plain_env)
        granted.extend(quotas.take("quota#r#carol", 1, QUOTA).granted for _ in range(6))

    threads = [threading.Thread(target=container) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(granted) == QUOTA.tokens  # 24 asked for, 10 granted across the four


def test_a_table_that_cannot_count_refuses(plain_env):
    quotas = QuotaTable("no-such-table", env=plain_env)
    with pytest.raises(QuotaUnavailable) as caught:
        quotas.take("quota#r#alice", 1, QUOTA)
    assert caught.value.status == 503


def test_without_a_table_each_container_counts_alone():
    clock = Clock(START)
    quotas = ContainerQuotas(clock=clock)
    assert [quotas.take("k", 4, QUOTA) for _ in range(3)] == [Spent(4), Spent(4), Spent(2, 300)]
    clock.now = START + 300
    assert quotas.take("k", 4, QUOTA) == Spent(4)


def test_leases_count_most_requests_here_and_never_grant_past_the_quota(table, plain_env, aws_calls):
    clock = Clock(START + 1)
    quota = Quota(tokens=100, window_seconds=300)
    containers = [LeasedQuotas(QuotaTable(table, clock=clock, env=plain_env), clock=clock) for _ in range(3)]
    updates = aws_calls.count("DynamoDB_20120810.UpdateItem")
    granted = [containers[i % 3].take("quota#r#dave", 1, quota).granted for i in range(120)]
    assert sum(granted) <= quota.tokens  # never past the quota, whatever the leases held
    assert sum(granted) >= quota.tokens - 3 * 10  # at most a lease (a tenth) held back per container
    assert aws_calls.count("DynamoDB_20120810.UpdateItem") - updates < 40  # not a call per request
    small = LeasedQuotas(QuotaTable(table, clock=clock, env=plain_env), clock=clock)
    assert [small.take("quota#r#erin", 1, QUOTA).granted for _ in range(11)] == [1] * 10 + [0]  # exact: 10 // 10 = 1
