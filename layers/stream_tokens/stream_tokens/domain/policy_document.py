"""The minting policy from its JSON document (checked against `policy.schema.json`, shipped beside
this package), and the built-in policy a deployment without a document gets (docs/policy.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from .callers import ANONYMOUS, DIRECT, IAM, JWT
from .model import DEFAULT_LIFETIME, AccessRule
from .policy import ANY, CLAIM, Callers, Lifetime, Policy, Quota, Rule, principal_pattern
from .request_schema import schema_errors


class PolicyInvalid(Exception):
    """The document is not a policy; the message says where (never the document itself)."""


@dataclass(frozen=True)
class Ceilings:
    """What the deployment allows whatever a policy says."""

    max_lifetime: int
    batch_max_items: int
    entitlements_claim: str = "stream_videos"


def parse_policy(text: str, ceilings: Ceilings, source: str) -> Policy:
    """The policy in `text` (JSON), or PolicyInvalid."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyInvalid(f"the policy is not JSON: {exc}") from None
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise PolicyInvalid(f"the policy breaks policy.schema.json: {exc.message}") from None
    claim = document.get("entitlementsClaim", ceilings.entitlements_claim)
    rules = tuple(_rule(raw, ceilings, f"rules[{i}]") for i, raw in enumerate(document["rules"]))
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise PolicyInvalid("the policy's rule names are not unique")
    return Policy(rules, claim, source)


def _rule(raw: dict[str, Any], ceilings: Ceilings, at: str) -> Rule:
    lifetime = raw.get("lifetime", {})
    longest = min(lifetime.get("max", ceilings.max_lifetime), ceilings.max_lifetime)
    access = raw.get("accessRules", {})
    return Rule(
        name=raw["name"],
        callers=_callers(raw["callers"]),
        videos=raw["videos"],
        lifetime=Lifetime(min(lifetime.get("default", DEFAULT_LIFETIME), longest), longest),
        downloadable=raw.get("downloadable", False),
        flags=raw.get("flags", False),
        caller_keys=raw.get("callerKeys", False),
        added_rules=_access_rules(access.get("add", []), f"{at}.accessRules.add"),
        caller_rules=access.get("callerMayAdd", True),
        batch_max_items=min(raw.get("batchMaxItems", ceilings.batch_max_items), ceilings.batch_max_items),
        quota=Quota(raw["quota"]["tokens"], raw["quota"]["windowSeconds"]) if "quota" in raw else None,
    )


def _callers(raw: dict[str, Any]) -> Callers:
    claim = raw.get("claim")
    return Callers(
        anyone=raw.get("anyone", False),
        via=frozenset(raw["via"]) if "via" in raw else None,
        scope=raw.get("scope"),
        group=raw.get("group"),
        claim=(claim["name"], claim["equals"]) if claim else None,
        principal=principal_pattern(raw["principal"]) if "principal" in raw else None,
    )


def _access_rules(raw: list[Any], at: str) -> tuple[AccessRule, ...]:
    """Rules in Cloudflare's shapes, checked as a token request's are."""
    problems = schema_errors({"accessRules": raw})
    if problems:
        raise PolicyInvalid(f"{at}: {problems[0].message}")
    return tuple(AccessRule(r["type"], r["action"], tuple(r.get("ip", ())), tuple(r.get("country", ()))) for r in raw)


@cache
def _validator() -> Any:
    schema = json.loads(resources.files("stream_tokens").joinpath("policy.schema.json").read_text())
    return fastjsonschema.compile(schema)


def built_in_policy(auth_mode: str, ceilings: Ceilings, *, jwt_any_video: bool, jwt_quota: Quota | None) -> Policy:
    """The policy of a deployment without a policy document (secure by default): trusted backends
    (IAM, direct invocation) any video; JWT callers the videos their claim lists (any only with
    `jwt_any_video`), within a quota; anonymous callers only where the API has no authorization
    (AuthMode NONE, itself an explicit choice). Nobody gets downloadable tokens, original-quality
    flags or their own keys; lifetimes default to an hour."""
    lifetime = Lifetime(min(DEFAULT_LIFETIME, ceilings.max_lifetime), ceilings.max_lifetime)
    rules = [
        Rule("trusted-backends", Callers(via=frozenset({IAM, DIRECT})), ANY, lifetime),
        Rule("jwt-callers", Callers(via=frozenset({JWT})), ANY if jwt_any_video else CLAIM, lifetime, quota=jwt_quota),
    ]
    if auth_mode == "NONE":
        rules.append(Rule("anyone", Callers(via=frozenset({ANONYMOUS})), ANY, lifetime))
    return Policy(tuple(rules), ceilings.entitlements_claim, "built-in")
