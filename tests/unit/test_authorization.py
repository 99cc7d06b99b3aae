"""The authorization service through its seams: a fixed policy, in-memory entitlement sources and a
quota counter (no I/O)."""

from __future__ import annotations

import pytest

from stream_tokens.adapters.quotas import ContainerQuotas
from stream_tokens.domain.callers import jwt_caller
from stream_tokens.domain.errors import ConfigurationError, InvalidRequest, NotPermitted, QuotaExceeded
from stream_tokens.domain.policy import ANY, CLAIM, FUNCTION, TABLE, Callers, Policy, Quota, Rule
from stream_tokens.domain.token_requests import batch_requests
from stream_tokens.services.authorization import Authorization, FixedPolicy
from tests.support.clock import Clock

NOW = 1_800_000_000
VIDEOS = [f"{n:032x}" for n in range(1, 5)]
VIEWER = jwt_caller({"sub": "v1", "stream_videos": f"[{VIDEOS[0]} {VIDEOS[1]}]"}, None)


class Source:
    """An entitlement source that knows `allowed` and records what it was asked."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = set(allowed)
        self.asked: list[list[str]] = []

    def entitled(self, caller, videos, deadline):
        self.asked.append(list(videos))
        return self.allowed & set(videos)


def authorization(rule: Rule, **sources: Source) -> Authorization:
    return Authorization(FixedPolicy(Policy((rule,))), sources, ContainerQuotas(Clock(NOW)), caller_share=2)


def admit(auth: Authorization, videos: list[str]) -> tuple[list[str], dict[int, type]]:
    decision = auth.decide(VIEWER)
    items = batch_requests([{"identifier": v} for v in videos], at="/requests", max_items=100)
    admitted, refused = auth.admit(decision, items, now=NOW, deadline=0)
    return [a.request.video_id for a in admitted], {i: type(e) for i, e in refused.items()}


def test_the_claim_entitles_without_a_lookup():
    assert admit(authorization(Rule("r", Callers(anyone=True), CLAIM)), VIDEOS[:3]) == (
        VIDEOS[:2],
        {2: NotPermitted},
    )


@pytest.mark.parametrize("kind", [TABLE, FUNCTION])
def test_a_source_is_asked_once_per_request_for_the_videos_that_passed_the_checks(kind):
    source = Source(VIDEOS[1], VIDEOS[3])
    auth = authorization(Rule("r", Callers(anyone=True), kind), **{kind: source})
    admitted, refused = admit(auth, [VIDEOS[0], "nope", VIDEOS[1], VIDEOS[3], VIDEOS[1]])
    assert admitted == [VIDEOS[1], VIDEOS[3], VIDEOS[1]]
    assert refused == {0: NotPermitted, 1: InvalidRequest}
    assert source.asked == [sorted({VIDEOS[0], VIDEOS[1], VIDEOS[3]})]  # one read, each video once


def test_a_rule_that_names_a_source_the_deployment_lacks_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        admit(authorization(Rule("r", Callers(anyone=True), TABLE)), VIDEOS[:1])


def test_a_quota_grants_what_fits_and_refuses_the_rest_of_a_batch():
    auth = authorization(Rule("r", Callers(anyone=True), ANY, quota=Quota(3, 300)))
    assert admit(auth, VIDEOS) == (VIDEOS[:3], {3: QuotaExceeded})
    assert admit(auth, VIDEOS[:1]) == ([], {0: QuotaExceeded})


def test_no_rule_for_the_caller_refuses_the_whole_request():
    auth = authorization(Rule("iam-only", Callers(via=frozenset({"iam"})), ANY))
    with pytest.raises(NotPermitted) as caught:
        auth.decide(VIEWER)
    assert caught.value.reason == NotPermitted.NO_RULE


def test_a_batch_over_the_rules_size_is_refused_whole():
    auth = authorization(Rule("small", Callers(anyone=True), ANY, batch_max_items=2))
    with pytest.raises(NotPermitted) as caught:
        admit(auth, VIDEOS[:3])
    assert "at most 2 tokens per batch" in caught.value.message


def test_a_callers_part_of_the_cloudflare_share():
    auth = authorization(Rule("r", Callers(anyone=True), ANY))
    decision = auth.decide(VIEWER)
    assert [auth.spend_cloudflare_share(decision, 1).granted for _ in range(3)] == [1, 1, 0]
