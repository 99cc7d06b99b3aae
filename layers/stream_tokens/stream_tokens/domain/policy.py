"""The operator's minting policy: which callers may mint which tokens (docs/policy.md).

A policy is a list of rules; the first rule whose `callers` match the caller decides, and a caller
no rule matches is refused. A rule says which videos (any, a claim's list, the entitlements table,
the entitlement function), the lifetime, whether downloadable tokens, flags and caller keys are
allowed, the access rules always put first, the batch size and a per-caller quota. Pure: the
documents come in parsed (`policy_document`), the entitlements are the service's to look up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .callers import Caller, claim_values
from .errors import ErrorDetail, NotPermitted
from .model import DEFAULT_LIFETIME, AccessRule, TokenRequest

ANY, CLAIM, TABLE, FUNCTION = "any", "claim", "table", "function"
"""Where a rule's videos come from."""
MAX_ACCESS_RULES = 5  # Cloudflare's limit on a token's access rules


@dataclass(frozen=True)
class Callers:
    """Who a rule is for: every condition given must hold (none given: nobody, unless `anyone`)."""

    anyone: bool = False
    via: frozenset[str] | None = None
    scope: str | None = None
    group: str | None = None
    claim: tuple[str, str] | None = None
    principal: re.Pattern[str] | None = None

    def match(self, caller: Caller) -> bool:
        conditions = (
            self.via is None or caller.via in self.via,
            self.scope is None or self.scope in caller.scopes,
            self.group is None or self.group in caller.groups,
            self.claim is None or caller.claims.get(self.claim[0]) == self.claim[1],
            self.principal is None or self.principal.fullmatch(caller.id) is not None,
        )
        return all(conditions) and (self.anyone or self != Callers(anyone=False))


def principal_pattern(glob: str) -> re.Pattern[str]:
    """An IAM principal ARN pattern: `*` any characters (`/` too), every other character itself."""
    return re.compile(".*".join(re.escape(part) for part in glob.split("*")))


@dataclass(frozen=True)
class Quota:
    tokens: int
    window_seconds: int

    def describe(self) -> str:
        return f"{self.tokens} tokens per {self.window_seconds} s"


@dataclass(frozen=True)
class Spent:
    """What a quota counter granted: `granted` of the tokens asked for; when short, `retry_after`
    seconds until the window has room again."""

    granted: int
    retry_after: int = 0


@dataclass(frozen=True)
class Lifetime:
    default: int = DEFAULT_LIFETIME
    """Seconds from now, when the caller sends no exp."""
    max: int = DEFAULT_LIFETIME
    """Most seconds from now a caller may ask for."""


@dataclass(frozen=True)
class Rule:
    name: str
    callers: Callers
    videos: str = CLAIM
    lifetime: Lifetime = Lifetime()
    downloadable: bool = False
    flags: bool = False
    caller_keys: bool = False
    added_rules: tuple[AccessRule, ...] = ()
    caller_rules: bool = True
    batch_max_items: int | None = None
    quota: Quota | None = None

    def admit(self, request: TokenRequest) -> TokenRequest:
        """The request as this rule lets it be minted (its access rules first), or NotPermitted
        naming every field the rule does not allow."""
        problems = [
            self._refusal(pointer, what)
            for pointer, what, asked, allowed in (
                ("/downloadable", "downloadable tokens", request.downloadable, self.downloadable),
                ("/flags/original", "original-quality tokens", _original(request), self.flags),
                ("/id", "a signing key of the caller's", request.signing_key is not None, self.caller_keys),
                ("/accessRules", "access rules of the caller's", bool(request.access_rules), self.caller_rules),
            )
            if asked and not allowed
        ]
        rules = self.added_rules + request.access_rules
        if len(rules) > MAX_ACCESS_RULES and not problems:
            message = (
                f"at most {MAX_ACCESS_RULES} access rules in all, and rule {self.name!r} adds {len(self.added_rules)}"
            )
            problems.append(ErrorDetail(NotPermitted.code, message, "/accessRules"))
        if problems:
            raise NotPermitted(self.name, problems)
        return request if not self.added_rules else replace(request, access_rules=rules)

    def entitled_by_claim(self, caller: Caller, claim: str, video_id: str) -> bool:
        """`video_id` (lowercase) is one the caller's claim lists, in any case."""
        listed = claim_values(caller.claims.get(claim))
        return video_id in listed or any(video.lower() == video_id for video in listed)

    def not_entitled(self, video_pointer: str) -> NotPermitted:
        """The refusal of a video the caller is not entitled to; the same whether the video exists or not."""
        message = f"rule {self.name!r} does not entitle this caller to this video"
        return NotPermitted(
            self.name, [ErrorDetail(NotPermitted.code, message, video_pointer)], NotPermitted.NOT_ENTITLED
        )

    def batch_too_large(self, size: int) -> NotPermitted:
        message = (
            f"rule {self.name!r} allows at most {self.batch_max_items} tokens per batch (this one asks for {size})"
        )
        return NotPermitted(self.name, [ErrorDetail(NotPermitted.code, message)], NotPermitted.BATCH_SIZE)

    def _refusal(self, pointer: str, what: str) -> ErrorDetail:
        return ErrorDetail(NotPermitted.code, f"{what}: not allowed by rule {self.name!r}", pointer)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    entitlements_claim: str = "stream_videos"
    source: str = "built-in"
    """Where it came from: `built-in` (the deployment's parameters) or the parameter's name and version."""

    def rule_for(self, caller: Caller) -> Rule:
        """The first rule for `caller`; NotPermitted when no rule is."""
        for rule in self.rules:
            if rule.callers.match(caller):
                return rule
        message = "no rule of the minting policy admits this caller"
        raise NotPermitted(NO_RULE, [ErrorDetail(NotPermitted.code, message)], NotPermitted.NO_RULE)


def _original(request: TokenRequest) -> bool:
    return request.flags is not None and request.flags.original is True


NO_RULE = "(none)"
"""The rule named when no rule matched."""
