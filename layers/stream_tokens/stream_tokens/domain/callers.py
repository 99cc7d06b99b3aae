"""Who is asking for a token: the caller as the policy sees it, whatever door they came in by.

The entry points build a `Caller` from what AWS vouches for (API Gateway's JWT or IAM authorizer,
an EventBridge event's account); the domain never sees the event. Claims arrive as API Gateway's
HTTP API hands them over, every value a string (docs/design/jwt-claims.md); `claim_values` reads
the lists among them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

JWT, IAM, DIRECT, ANONYMOUS = "jwt", "iam", "direct", "anonymous"
"""How a caller was identified: a bearer token, SigV4, a direct invocation, or not at all (AuthMode NONE)."""


@dataclass(frozen=True)
class Caller:
    via: str
    """JWT, IAM, DIRECT or ANONYMOUS."""
    id: str
    """Who, for quotas and the audit log: the token's `sub`, the IAM principal's ARN, the event's source."""
    scopes: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    claims: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    """The token's claims, each a string as API Gateway hands them over."""
    account: str | None = None
    """The AWS account the caller belongs to (IAM, EventBridge), when known."""

    def to_log(self) -> dict[str, str]:
        """What the audit log says of the caller: who and how, never a claim's value."""
        return {"id": self.id, "via": self.via} | ({"account": self.account} if self.account else {})


ANYONE = Caller(ANONYMOUS, "anonymous")
"""The caller of an API without authorization (AuthMode NONE)."""


def claim_values(raw: object) -> tuple[str, ...]:
    """The items of a list-valued claim as API Gateway hands it over: `[a b c]` (its form for a JSON
    array), a JSON array text, a JSON array itself, or space- or comma-separated text."""
    if isinstance(raw, list):
        return tuple(str(item) for item in raw)
    if not isinstance(raw, str):
        return ()
    text = raw.strip()
    if text.startswith("{"):  # an object is no list
        return ()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            text = text[1:-1]  # API Gateway's "[a b c]"
        else:
            return claim_values(parsed) if isinstance(parsed, list) else ()
    return tuple(item for item in text.replace(",", " ").split() if item)


def jwt_caller(claims: Mapping[str, object], scopes: object) -> Caller:
    """A bearer token's caller: `sub` (or `client_id` for a machine token), its scopes (API Gateway's
    list, else the `scope`/`scp` claim) and groups (`cognito:groups`, `groups`)."""
    strings = {str(name): value if isinstance(value, str) else json.dumps(value) for name, value in claims.items()}
    granted = claim_values(scopes) if scopes else claim_values(strings.get("scope") or strings.get("scp"))
    groups = claim_values(strings.get("cognito:groups")) + claim_values(strings.get("groups"))
    who = strings.get("sub") or strings.get("client_id") or "unknown"
    return Caller(JWT, who, frozenset(granted), frozenset(groups), strings)


def iam_caller(arn: str, account: str | None) -> Caller:
    return Caller(IAM, arn, account=account)


def direct_caller(source: str, account: str | None = None) -> Caller:
    return Caller(DIRECT, source, account=account)
