"""The minting policy: callers, rules, the document and its schema, the built-in policy (no I/O)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localdev.standins.examples import VIDEO
from stream_tokens.domain.callers import ANYONE, Caller, claim_values, direct_caller, iam_caller, jwt_caller
from stream_tokens.domain.errors import NotPermitted
from stream_tokens.domain.model import AccessRule, SigningKey, TokenFlags, TokenRequest
from stream_tokens.domain.policy import ANY, CLAIM, NO_RULE, Callers, Lifetime, Policy, Rule, principal_pattern
from stream_tokens.domain.policy_document import Ceilings, PolicyInvalid, built_in_policy, parse_policy

NOW = 1_800_000_000
CEILINGS = Ceilings(max_lifetime=7200, batch_max_items=100)
BLOCK_RU = {"type": "ip.geoip.country", "action": "block", "country": ["RU"]}
VIDEOS = [f"{n:032x}" for n in range(1, 4)]
ids = st.lists(st.sampled_from(VIDEOS), max_size=3)


def request(**fields: object) -> TokenRequest:
    return TokenRequest(VIDEO, exp=NOW + 600, nbf=NOW - 60, **fields)  # type: ignore[arg-type]


@given(ids)
def test_a_list_claim_reads_in_every_form_api_gateway_or_an_idp_hands_over(videos):
    expected = tuple(videos)
    for form in (" ".join(videos), json.dumps(videos), f"[{' '.join(videos)}]", ",".join(videos), videos):
        assert claim_values(form) == expected


def test_what_is_not_a_list_claim_reads_as_no_items():
    for form in (None, 5, {"a": 1}, "", "[]", '{"a": 1}'):
        assert claim_values(form) == ()


def test_a_jwt_caller_is_its_subject_scopes_and_groups():
    caller = jwt_caller({"sub": "u1", "scope": "openid stream/mint", "cognito:groups": "[gold staff]"}, None)
    assert (caller.id, caller.via) == ("u1", "jwt")
    assert caller.scopes == {"openid", "stream/mint"}
    assert caller.groups == {"gold", "staff"}
    assert jwt_caller({"client_id": "m2m"}, ["stream/mint"]).scopes == {"stream/mint"}  # API Gateway's own list
    assert jwt_caller({"client_id": "m2m"}, None).id == "m2m"


def test_callers_match_when_every_condition_holds_and_nobody_matches_an_empty_rule():
    gold = jwt_caller({"sub": "u1", "cognito:groups": "[gold]", "plan": "pro"}, ["stream/mint"])
    assert Callers(via=frozenset({"jwt"}), group="gold", scope="stream/mint").match(gold)
    assert Callers(claim=("plan", "pro")).match(gold)
    assert not Callers(claim=("plan", "free")).match(gold)
    assert not Callers(group="gold", scope="admin").match(gold)
    assert not Callers().match(gold)
    assert Callers(anyone=True).match(ANYONE)


def test_a_principal_pattern_matches_whole_arns_with_star_for_any_characters():
    pattern = principal_pattern("arn:aws:sts::123456789012:assumed-role/video-backend/*")
    assert pattern.fullmatch("arn:aws:sts::123456789012:assumed-role/video-backend/i-0abc")
    assert not pattern.fullmatch("arn:aws:sts::123456789012:assumed-role/video-backend-evil/x")
    assert not pattern.fullmatch("arn:aws:sts::999999999999:assumed-role/video-backend/x")
    assert principal_pattern("arn:aws:iam::1.2:role/a").fullmatch("arn:aws:iam::1x2:role/a") is None  # '.' is a dot


def test_a_rule_refuses_each_field_it_does_not_allow_naming_it():
    strict = Rule("viewers", Callers(anyone=True))
    asked = request(
        downloadable=True,
        flags=TokenFlags(True),
        signing_key=SigningKey("a" * 32, "pem"),
        access_rules=(AccessRule("any", "allow"),),
    )
    with pytest.raises(NotPermitted) as caught:
        Rule("viewers", Callers(anyone=True), caller_rules=False).admit(asked)
    assert [d.pointer for d in caught.value.details] == ["/downloadable", "/flags/original", "/id", "/accessRules"]
    assert all("'viewers'" in d.message for d in caught.value.details)
    assert caught.value.status == 403
    assert strict.admit(request(flags=TokenFlags(False))) == request(flags=TokenFlags(False))  # asks nothing more


def test_the_rules_added_come_first_and_the_total_stays_within_cloudflares_five():
    block = AccessRule("ip.geoip.country", "block", country=("RU",))
    rule = Rule("geo", Callers(anyone=True), added_rules=(block,))
    mine = AccessRule("ip.src", "allow", ip=("192.0.2.0/24",))
    assert rule.admit(request(access_rules=(mine,))).access_rules == (block, mine)
    with pytest.raises(NotPermitted) as caught:
        rule.admit(request(access_rules=(mine,) * 5))
    assert caught.value.details[0].pointer == "/accessRules"


rules_strategy = st.lists(
    st.builds(
        Rule,
        name=st.sampled_from(["a", "b", "c", "d"]),
        callers=st.builds(
            Callers,
            anyone=st.booleans(),
            via=st.none() | st.frozensets(st.sampled_from(["jwt", "iam", "direct", "anonymous"]), min_size=1),
            group=st.none() | st.sampled_from(["gold", "silver"]),
        ),
        downloadable=st.booleans(),
        added_rules=st.lists(st.just(AccessRule("ip.geoip.country", "block", country=("RU",))), max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=5,
)
callers_strategy = st.builds(
    Caller,
    via=st.sampled_from(["jwt", "iam", "direct", "anonymous"]),
    id=st.just("someone"),
    groups=st.frozensets(st.sampled_from(["gold", "silver"])),
)
requests_strategy = st.builds(
    request,
    downloadable=st.booleans(),
    access_rules=st.lists(st.just(AccessRule("any", "allow")), max_size=4).map(tuple),
)


@given(rules_strategy, callers_strategy, requests_strategy)
def test_the_first_matching_rule_decides_and_what_it_admits_keeps_its_promises(rules, caller, asked):
    policy = Policy(tuple(rules))
    matching = [rule for rule in rules if rule.callers.match(caller)]
    if not matching:
        with pytest.raises(NotPermitted) as caught:
            policy.rule_for(caller)
        assert caught.value.rule == NO_RULE
        return
    rule = policy.rule_for(caller)
    assert rule is matching[0]
    if (asked.downloadable and not rule.downloadable) or len(rule.added_rules + asked.access_rules) > 5:
        with pytest.raises(NotPermitted) as refused:
            rule.admit(asked)
        assert refused.value.rule == rule.name
        return
    minted = rule.admit(asked)
    assert not minted.downloadable or rule.downloadable
    assert minted.access_rules[: len(rule.added_rules)] == rule.added_rules  # the operator's rules first
    assert len(minted.access_rules) <= 5
    assert (minted.video_id, minted.exp) == (asked.video_id, asked.exp)


SUBSCRIPTION_SITE = {
    "version": 1,
    "rules": [
        {"name": "backend", "callers": {"via": ["iam", "direct"]}, "videos": "any", "downloadable": True},
        {
            "name": "subscribers",
            "callers": {"via": ["jwt"], "group": "subscribers"},
            "videos": "table",
            "lifetime": {"default": 1800, "max": 14400},
            "accessRules": {"add": [BLOCK_RU], "callerMayAdd": False},
            "batchMaxItems": 10,
            "quota": {"tokens": 300, "windowSeconds": 3600},
        },
        {"name": "everyone-else", "callers": {"via": ["jwt"]}, "videos": "claim"},
    ],
}


def test_a_document_becomes_rules_clamped_to_the_deployments_ceilings():
    policy = parse_policy(json.dumps(SUBSCRIPTION_SITE), CEILINGS, "param:3")
    backend, subscribers, rest = policy.rules
    assert (backend.videos, backend.downloadable, backend.caller_keys) == (ANY, True, False)
    assert subscribers.lifetime == Lifetime(1800, 7200)  # 14400 asked, 7200 is the deployment's ceiling
    assert subscribers.added_rules == (AccessRule("ip.geoip.country", "block", country=("RU",)),)
    assert not subscribers.caller_rules
    assert (subscribers.batch_max_items, subscribers.quota and subscribers.quota.tokens) == (10, 300)
    assert (rest.videos, rest.lifetime) == (CLAIM, Lifetime(3600, 7200))
    assert (policy.source, policy.entitlements_claim) == ("param:3", "stream_videos")


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"rules": []}), "policy.schema.json"),
        (json.dumps({"version": 1, "rules": [{"name": "x", "callers": {}, "videos": "any"}]}), "schema"),
        (json.dumps({"version": 1, "rules": [{"name": "x", "callers": {"anyone": True}, "videos": "all"}]}), "schema"),
        (json.dumps({"version": 2, "rules": [{"name": "x", "callers": {"anyone": True}, "videos": "any"}]}), "schema"),
        (
            json.dumps({"version": 1, "rules": [{"name": "x", "callers": {"anyone": True}, "videos": "any", "x": 1}]}),
            "schema",
        ),
        (
            json.dumps(
                {
                    "version": 1,
                    "rules": [
                        {
                            "name": "x",
                            "callers": {"anyone": True},
                            "videos": "any",
                            "accessRules": {"add": [{"type": "ip.src", "action": "allow", "ip": [5]}]},
                        }
                    ],
                }
            ),
            "accessRules.add",
        ),
        (
            json.dumps({"version": 1, "rules": [{"name": "x", "callers": {"anyone": True}, "videos": "any"}] * 2}),
            "unique",
        ),
    ],
)
def test_a_document_that_is_not_a_policy_is_refused_saying_where(document, says):
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(document, CEILINGS, "param:1")
    assert says in str(caught.value)


def test_the_shipped_schema_is_the_one_the_docs_publish():
    from importlib import resources

    shipped = json.loads(resources.files("stream_tokens").joinpath("policy.schema.json").read_text())
    assert shipped["properties"]["rules"]["items"] == {"$ref": "#/definitions/rule"}
    assert set(shipped["definitions"]["rule"]["properties"]) == {
        "name",
        "callers",
        "videos",
        "lifetime",
        "downloadable",
        "flags",
        "callerKeys",
        "accessRules",
        "batchMaxItems",
        "quota",
    }


def test_the_built_in_policy_is_safe_by_default():
    jwt = jwt_caller({"sub": "u1"}, None)
    backend, browser = iam_caller("arn:aws:iam::123456789012:role/app", "123456789012"), direct_caller("lambda:invoke")
    for mode in ("IAM", "JWT", "NONE"):
        policy = built_in_policy(mode, CEILINGS, jwt_any_video=False, jwt_quota=None)
        assert policy.rule_for(backend).videos == ANY
        assert policy.rule_for(browser).videos == ANY
        assert policy.rule_for(jwt).videos == CLAIM
        for rule in policy.rules:
            assert (rule.downloadable, rule.flags, rule.caller_keys) == (False, False, False)
            assert rule.lifetime == Lifetime(3600, 7200)
    assert built_in_policy("NONE", CEILINGS, jwt_any_video=False, jwt_quota=None).rule_for(ANYONE).videos == ANY
    with pytest.raises(NotPermitted):
        built_in_policy("JWT", CEILINGS, jwt_any_video=False, jwt_quota=None).rule_for(ANYONE)
    assert built_in_policy("JWT", CEILINGS, jwt_any_video=True, jwt_quota=None).rule_for(jwt).videos == ANY
