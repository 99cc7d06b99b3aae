"""Who is calling, from what AWS hands over with the event (docs/design/jwt-claims.md):

- HTTP API with a JWT authorizer: `requestContext.authorizer.jwt` ({"claims": {...}, "scopes": [...]},
  every claim value a string);
- HTTP API with IAM authorization: `requestContext.authorizer.iam` (the caller's ARN and account);
- no authorizer (AuthMode NONE): an anonymous caller;
- direct invocation: an EventBridge event's source and account; anything else (Lambda invoke, Step
  Functions, Pipes) is the function's own invokers, whom IAM already let in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain.callers import ANYONE, Caller, direct_caller, iam_caller, jwt_caller
from .events import EVENTBRIDGE_KEYS

DIRECT_INVOKE = "lambda:invoke"


def http_caller(event: Mapping[str, Any]) -> Caller:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    jwt, iam = authorizer.get("jwt"), authorizer.get("iam")
    if isinstance(jwt, Mapping):
        claims = jwt.get("claims")
        return jwt_caller(claims if isinstance(claims, Mapping) else {}, jwt.get("scopes"))
    if isinstance(iam, Mapping):
        arn = iam.get("userArn") or f"iam:{iam.get('callerId') or 'unknown'}"
        return iam_caller(str(arn), _text(iam.get("accountId")))
    return ANYONE


def direct_invoker(event: Any) -> Caller:
    if isinstance(event, Mapping) and event.keys() >= EVENTBRIDGE_KEYS:
        return direct_caller(f"events:{event.get('source')}", _text(event.get("account")))
    return direct_caller(DIRECT_INVOKE)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
