"""The container's share of Cloudflare's API rate limit (a token bucket)."""

from __future__ import annotations

import pytest

from stream_tokens.domain.call_limits import CallBudget
from stream_tokens.runtime.config import Settings
from tests.support.clock import Clock


def test_a_burst_then_the_steady_rate():
    clock = Clock()
    budget = CallBudget(per_second=0.5, burst=3, clock=clock)
    assert [budget.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.take() == pytest.approx(2.0)  # one call per 2 s from now on
    clock.now += 1.0
    assert budget.take() == pytest.approx(1.0)
    clock.now += 1.0
    assert budget.take() == 0.0
    clock.now += 3600
    assert [budget.take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refills up to the burst only


def test_the_share_of_a_deployment_is_split_across_its_containers_and_functions():
    env = {"CLOUDFLARE_SECRET_ARN": "arn", "STREAM_CUSTOMER_CODE": "abc"}
    assert Settings.from_env(
        env | {"UPSTREAM_CALLS_PER_5_MINUTES": "600", "UPSTREAM_BUDGET_CONTAINERS": "5"}
    ).upstream_calls_per_second == pytest.approx(0.2)
    # 0 reserved containers: the bound holds per container only
    assert Settings.from_env(
        env | {"UPSTREAM_CALLS_PER_5_MINUTES": "600", "UPSTREAM_BUDGET_CONTAINERS": "0"}
    ).upstream_calls_per_second == pytest.approx(1.0)
