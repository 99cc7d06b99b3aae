"""Issue 22, as template.yaml and SAM's translation of it say: tokens never on an event bus, the
EventBridge rule for this account's events only, both queues of the direct function encrypted and
read only by the roles named; browser origins https (http only for localhost), `*` only with
AuthMode NONE; the secret named by its complete ARN. docs/operating/hardening.md says why."""

from __future__ import annotations

import json
import re

import pytest

from localdev.standins.template import refusals, template
from tests.template.sam import SECRET_ARN, translated

T = template()
RESOURCES = T["Resources"]
RECEIVING = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]


@pytest.fixture(autouse=True)
def _region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def statements_of(policy: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in RESOURCES[policy]["Properties"]["PolicyDocument"]["Statement"]}


# -- point 2: no token on an event bus, this account's events only, private queues -------------
def test_nothing_the_stack_deploys_publishes_to_an_event_bus():
    cfn = translated()
    text = json.dumps(cfn["Resources"])
    assert "event-bus" not in text
    assert "events:PutEvents" not in text
    assert not [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Events::EventBus"]
    (invoke_config,) = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    destinations = invoke_config["Properties"]["DestinationConfig"]
    assert destinations["OnSuccess"]["Destination"] == {"Fn::GetAtt": ["MintResultsQueue", "Arn"]}
    assert destinations["OnFailure"]["Destination"] == {"Fn::GetAtt": ["MintFailureQueue", "Arn"]}


def test_the_rule_that_mints_matches_this_accounts_events_only():
    cfn = translated()
    (rule,) = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["account"] == [{"Ref": "AWS::AccountId"}]
    assert set(pattern) == {"account", "source", "detail-type"}


@pytest.mark.parametrize("queue", ["MintFailureQueue", "MintResultsQueue"])
def test_both_queues_are_encrypted_and_keep_what_they_hold_no_longer_than_it_serves(queue):
    properties = RESOURCES[queue]["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    # a token lives at most 24 h: its result is worthless after a day; a failed request waits 14 days
    assert properties["MessageRetentionPeriod"] == {"MintResultsQueue": 86400, "MintFailureQueue": 1209600}[queue]
    assert (
        T["Parameters"]["MaxTokenLifetimeSeconds"]["MaxValue"]
        <= RESOURCES["MintResultsQueue"]["Properties"]["MessageRetentionPeriod"]
    )


@pytest.mark.parametrize(
    ("queue", "readers"), [("MintFailureQueue", "NameFailureReaders"), ("MintResultsQueue", "NameResultReaders")]
)
def test_only_the_named_roles_read_a_queue_and_the_root_user_when_none_are(queue, readers):
    statement = statements_of(f"{queue}Policy")["OnlyTheNamedReadersReceive"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", RECEIVING)
    assert statement["Resource"] == {"!GetAtt": f"{queue}.Arn"}
    chosen = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["!If"]
    parameter = {"NameFailureReaders": "FailureQueueReaderArns", "NameResultReaders": "ResultQueueReaderArns"}[readers]
    assert chosen == [readers, {"!Ref": parameter}, [{"!Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}]]
    assert T["Conditions"][readers] == {"!Not": [{"!Equals": [{"!Join": ["", {"!Ref": parameter}]}, ""]}]}
    assert T["Parameters"][parameter] == T["Parameters"][parameter] | {"Type": "CommaDelimitedList", "Default": ""}


def test_only_the_direct_functions_role_and_its_rule_send_to_the_queues():
    role = {"!GetAtt": "MintDirectFunctionRole.Arn"}
    rule = {"!GetAtt": "MintDirectFunctionTokenRequested.Arn"}
    failures = statements_of("MintFailureQueuePolicy")
    assert failures["OnlyTheDirectFunctionAndItsRuleSend"]["Effect"] == "Deny"
    # both keys under one operator: denied unless the caller is the role OR the call comes from the rule
    assert failures["OnlyTheDirectFunctionAndItsRuleSend"]["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": role, "aws:SourceArn": rule}
    }
    assert failures["EventsThatCouldNotBeDelivered"]["Condition"] == {"ArnEquals": {"aws:SourceArn": rule}}
    results = statements_of("MintResultsQueuePolicy")
    assert set(results) == {"OnlyTheDirectFunctionSends", "OnlyTheNamedReadersReceive"}  # nobody else allowed anything
    assert results["OnlyTheDirectFunctionSends"]["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role}}


def test_the_translated_queue_policies_name_the_readers_given_and_otherwise_the_root_user():
    readers = "arn:aws:iam::123456789012:role/token-collector,arn:aws:iam::123456789012:role/ops-*"
    deny = {
        name: next(
            s for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "OnlyTheNamedReadersReceive"
        )
        for name, r in translated(ResultQueueReaderArns=readers)["Resources"].items()
        if r["Type"] == "AWS::SQS::QueuePolicy"
    }
    assert set(deny) == {"MintFailureQueuePolicy", "MintResultsQueuePolicy"}
    for statement in deny.values():
        assert statement["Effect"] == "Deny"
        assert "Fn::If" in statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]


# -- point 5: browser origins ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("origins", "accepted"),
    [
        ("", True),
        ("https://www.example.com", True),
        ("https://www.example.com,https://app.example.com:8443", True),
        ("http://localhost", True),
        ("http://localhost:5173,https://app.example.com", True),
        ("*", True),  # the shape is fine; the rule decides (below)
        ("http://www.example.com", False),
        ("http://localhost.evil.example", False),
        ("https://www.example.com/", False),
        ("https://www.example.com/path", False),
        ("https://www.example.com, https://app.example.com", False),
        ("https://*.example.com", False),
        ("https://a.example,*", False),
        ("ftp://example.com", False),
        ("null", False),
        ("https://", False),
        ("https://-bad.example.com", False),
        ("https://www.example.com,", False),
        ("javascript:alert(1)", False),
    ],
)
def test_allowed_origins_are_https_or_localhost(origins, accepted):
    """CloudFormation matches AllowedPattern against the whole value (Java regex; this one has no
    construct that reads differently in Python)."""
    parameter = T["Parameters"]["AllowedOrigins"]
    assert bool(re.fullmatch(parameter["AllowedPattern"], origins)) is accepted
    assert bool(refusals({"AllowedOrigins": origins, "AuthMode": "NONE"})) is not accepted
    if not accepted:
        assert refusals({"AllowedOrigins": origins}) == [f"AllowedOrigins: {parameter['ConstraintDescription']}"]


@pytest.mark.parametrize(
    ("origins", "auth", "refused"),
    [("*", "NONE", False), ("*", "IAM", True), ("*", "JWT", True), ("https://app.example.com", "IAM", False)],
)
def test_any_origin_only_without_authorization(origins, auth, refused):
    parameters = {"AllowedOrigins": origins, "AuthMode": auth}
    if auth == "JWT":
        parameters |= {"JwtIssuer": "https://issuer.example.com", "JwtAudience": "client"}
    found = refusals(parameters)
    assert bool(found) is refused
    if refused:
        assert found == [T["Rules"]["AnyOriginOnlyWithoutAuth"]["Assertions"][0]["AssertDescription"]]
        assert "AuthMode NONE" in found[0]


def test_sam_keeps_the_rules_for_cloudformation():
    rules = translated()["Rules"]
    assert rules["AnyOriginOnlyWithoutAuth"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "AllowedOrigins"}, "*"]}
    assert rules["AnyOriginOnlyWithoutAuth"]["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "NONE"]}


# -- point 6: the secret by its complete ARN ------------------------------------------------
@pytest.mark.parametrize(
    ("arn", "accepted"),
    [
        (SECRET_ARN, True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudflare-Zz09Qq", True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a/b_c+d=e.f@g-AbCdEf", True),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:stream-signed-urls/cloudflare", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:cloudflare-AbCdE", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:cloudflare-AbCdEf*", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:*", False),
        ("stream-signed-urls/cloudflare", False),
    ],
)
def test_the_secret_is_named_by_its_complete_arn(arn, accepted):
    """A partial ARN (without the six characters Secrets Manager appends) would be accepted by
    GetSecretValue but matched by neither the role policies (Resource: the ARN as given) nor
    RotateSigningKeyPermission's SourceArn (Secrets Manager invokes with the complete one)."""
    parameter = T["Parameters"]["CloudflareSecretArn"]
    assert bool(re.fullmatch(parameter["AllowedPattern"], arn)) is accepted
    assert bool(refusals({"CloudflareSecretArn": arn})) is not accepted
    assert "six" in parameter["ConstraintDescription"]


def test_every_place_the_secret_is_named_takes_the_parameter_as_given():
    """Policies and the permission use the ARN unchanged (no wildcard that could reach another
    secret), which is only right because the parameter is the complete ARN."""
    text = json.dumps(T)
    assert "CloudflareSecretArn}*" not in text
    assert "CloudflareSecretArn}-??????" not in text
    for name in ("CloudflareSecretArn", "SigningKeySecretArn"):
        assert f"{name}}}*" not in text
        assert f"{name}}}-??????" not in text
    assert RESOURCES["RotateSigningKeyPermission"]["Properties"]["SourceArn"] == {
        "!If": ["SigningKeySecretGiven", {"!Ref": "SigningKeySecretArn"}, {"!Ref": "CloudflareSecretArn"}]
    }


def test_the_signing_key_secret_is_empty_or_a_complete_arn():
    assert refusals({"SigningKeySecretArn": ""}) == []
    assert refusals({"SigningKeySecretArn": SECRET_ARN}) == []
    (refused,) = refusals({"SigningKeySecretArn": SECRET_ARN.removesuffix("-AbCdEf")})
    assert refused.startswith("SigningKeySecretArn: empty, or the secret's complete ARN")
