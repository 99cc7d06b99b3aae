"""Who may mint what: the policy's rule for a caller, the videos it entitles them to, their quota.

Every refusal here happens before anything is asked of Cloudflare, so a refusal never tells whether
a video exists. The policy, the entitlement sources and the quota counter are ports
(`services.ports`); the rules themselves are the domain's (`domain.policy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..domain.callers import Caller
from ..domain.errors import ConfigurationError, InvalidRequest, QuotaExceeded, StreamTokenError
from ..domain.model import TokenRequest
from ..domain.policy import ANY, CLAIM, Policy, Quota, Rule, Spent
from ..domain.token_requests import BatchItem, checked_request
from .ports import Entitlements, PolicySource, QuotaCounter

CLOUDFLARE_SHARE_WINDOW = 300  # Cloudflare's rate limit counts calls per 5 minutes


@dataclass(frozen=True)
class Admitted:
    """A batch item the rule admits: its checked request and the account the caller named."""

    index: int
    request: TokenRequest
    account_id: str | None


@dataclass(frozen=True)
class Decision:
    """The rule that decides for a caller, within the policy it comes from."""

    caller: Caller
    rule: Rule
    policy: Policy


class Authorization:
    def __init__(
        self,
        policies: PolicySource,
        entitlements: Mapping[str, Entitlements],
        quotas: QuotaCounter | None,
        caller_share: int | None = None,
    ) -> None:
        """`entitlements`: the sources by the name rules use (`table`, `function`), those deployed;
        `caller_share`: the most calls to Cloudflare one caller may make in 5 minutes (None: no limit)."""
        self.policies = policies
        self.entitlements = entitlements
        self.quotas = quotas
        self.caller_share = caller_share

    def decide(self, caller: Caller) -> Decision:
        """The rule for `caller` (NotPermitted when none is)."""
        policy = self.policies.current()
        return Decision(caller, policy.rule_for(caller), policy)

    def admit(
        self, decision: Decision, items: Sequence[BatchItem], *, now: int, deadline: float
    ) -> tuple[list[Admitted], dict[int, Exception]]:
        """The items the rule admits, each checked and as the rule lets it be minted, within the
        caller's quota; and why each other item is refused, by index."""
        rule = decision.rule
        if rule.batch_max_items is not None and len(items) > rule.batch_max_items:
            raise rule.batch_too_large(len(items))
        admitted, refused = _checked(rule, items, now)
        if rule.videos != ANY:  # any video: nothing to look up
            entitled = self._entitled(decision, sorted({item.request.video_id for item in admitted}), deadline)
            refused |= {
                a.index: rule.not_entitled("/identifier") for a in admitted if a.request.video_id not in entitled
            }
            admitted = [item for item in admitted if item.index not in refused]
        spent = self.spend(decision, len(admitted))
        for item in admitted[spent.granted :]:
            refused[item.index] = quota_spent(rule.name, rule.quota, spent.retry_after)
        return admitted[: spent.granted], refused

    def _entitled(self, decision: Decision, videos: Sequence[str], deadline: float) -> set[str]:
        """Which of `videos` the decision's rule (not one for any video) entitles the caller to."""
        rule, caller = decision.rule, decision.caller
        if rule.videos == CLAIM:
            claim = decision.policy.entitlements_claim
            return {video for video in videos if rule.entitled_by_claim(caller, claim, video)}
        source = self.entitlements.get(rule.videos)
        if source is None:
            raise ConfigurationError(f"rule {rule.name!r} needs entitlements from the {rule.videos}, not deployed")
        return source.entitled(caller, videos, deadline) if videos else set()

    def spend(self, decision: Decision, count: int) -> Spent:
        """Spend up to `count` tokens of the caller's quota under the rule."""
        quota = decision.rule.quota
        return self._take(f"quota#{decision.rule.name}#{decision.caller.id}", count, quota)

    def spend_cloudflare_share(self, decision: Decision, count: int) -> Spent:
        """Spend up to `count` calls of the caller's part of the deployment's Cloudflare share."""
        share = None if self.caller_share is None else Quota(self.caller_share, CLOUDFLARE_SHARE_WINDOW)
        return self._take(f"cloudflare#{decision.caller.id}", count, share)

    def _take(self, key: str, count: int, quota: Quota | None) -> Spent:
        if quota is None or count == 0:
            return Spent(count)
        if self.quotas is None:
            raise ConfigurationError("a quota needs the quota table, which is not deployed")
        return self.quotas.take(key, count, quota)


def _checked(rule: Rule, items: Sequence[BatchItem], now: int) -> tuple[list[Admitted], dict[int, Exception]]:
    """Each item checked, with the rule's lifetimes, and admitted as the rule allows, or refused."""
    admitted: list[Admitted] = []
    refused: dict[int, Exception] = {}
    lifetime = rule.lifetime
    for i, item in enumerate(items):
        try:
            if isinstance(item, InvalidRequest):
                raise item
            request, account = checked_request(
                item, now=now, max_lifetime=lifetime.max, default_lifetime=lifetime.default
            )
            admitted.append(Admitted(i, rule.admit(request), account))
        except StreamTokenError as exc:
            refused[i] = exc
    return admitted, refused


def quota_spent(name: str, quota: Quota | None, retry_after: int) -> QuotaExceeded:
    """The refusal of a token beyond the caller's quota `name`."""
    described = "" if quota is None else f" ({quota.describe()})"
    message = f"this caller's quota {name!r}{described} is spent; try again in {max(1, retry_after)} s"
    return QuotaExceeded(name, message, retry_after=max(1, retry_after))


class FixedPolicy:
    """A policy that does not change while the container lives (the built-in one)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def current(self) -> Policy:
        return self.policy
