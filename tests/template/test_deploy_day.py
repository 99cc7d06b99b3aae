"""What a first `sam deploy` on a new account meets: the template as SAM's translator turns it into
CloudFormation, resolved for the default parameters (and a few others), checked against the limits
AWS documents for a fresh account and for the longest stack name CloudFormation allows."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localdev.standins.template import condition_values, resolved, template
from tests.template.sam import translated

LONGEST_STACK_NAME = "s" * 128  # CloudFormation: up to 128 characters
LONGEST_REGION = "ap-southeast-5"  # as long as any region's name
PSEUDO = {"AWS::StackName": LONGEST_STACK_NAME, "AWS::Region": LONGEST_REGION, "AWS::AccountId": "1" * 12,
          "AWS::Partition": "aws-us-gov", "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip

# Physical names a resource type can be given, and the longest each may be.
NAME_LIMITS = {
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::Lambda::LayerVersion", "LayerName"): 140,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::ApiGatewayV2::Api", "Name"): 128,
    ("AWS::ApiGatewayV2::Stage", "StageName"): 128,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::SecretsManager::Secret", "Name"): 512,
}


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def deployed(**parameters: str) -> dict[str, Any]:
    """The CloudFormation resources for these parameters, conditions and Fn::If resolved."""
    cloudformation = translated(**parameters)
    conditions = condition_values(parameters)
    values = {name: p.get("Default") for name, p in template()["Parameters"].items()} | parameters | PSEUDO
    return {
        name: resolved(resource, conditions, values)
        for name, resource in cloudformation["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }


def longest(name: Any) -> int:
    """The length of a physical name at its longest (stack name, region, account); a name that
    depends on anything else has no known bound."""
    if isinstance(name, str):
        return len(name)
    if isinstance(name, dict) and set(name) == {"Fn::Sub"} and isinstance(name["Fn::Sub"], str):
        unknown = set(re.findall(r"\$\{([^}]+)\}", name["Fn::Sub"])) - set(PSEUDO)
        assert not unknown, f"no known bound for {unknown}"
        return len(re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO[m.group(1)], name["Fn::Sub"]))
    raise AssertionError(f"no known bound for the name {name!r}")


def physical_names(resources: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        (logical_id, attribute, resource["Properties"][attribute])
        for logical_id, resource in resources.items()
        for (kind, attribute) in NAME_LIMITS
        if resource["Type"] == kind and attribute in resource.get("Properties", {})
    ]


def test_no_function_reserves_concurrency_by_default():
    """A new account has a lowered concurrency limit and Lambda keeps a minimum unreserved: any
    reservation fails its deployment."""
    assert template()["Parameters"]["ReservedConcurrency"]["Default"] == 0
    functions = {n: r for n, r in deployed().items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == 4  # the two minting functions, the rotation and its switch (issue 22)
    assert [n for n, r in functions.items() if "ReservedConcurrentExecutions" in r["Properties"]] == []


def test_a_reservation_is_still_possible_for_the_minting_functions():
    functions = {n: r for n, r in deployed(ReservedConcurrency="3").items() if r["Type"] == "AWS::Lambda::Function"}
    reserved = {n: r["Properties"].get("ReservedConcurrentExecutions") for n, r in functions.items()}
    assert reserved == {
        "MintFunction": "3",
        "MintDirectFunction": "3",
        "RotateSigningKeyFunction": None,
        "TurnOnRotationFunction": None,
    }


@pytest.mark.parametrize("parameters", [{}, {"AuthMode": "JWT", "JwtIssuer": "https://i.example", "JwtAudience": "a"}])
def test_every_fixed_physical_name_fits_its_limit_with_the_longest_stack_name(parameters):
    """Names CloudFormation generates are cut to fit; a name the template fixes is not. Functions
    are not named by the template (a stack name over 45 characters broke `-rotate-signing-key`)."""
    resources = deployed(**parameters)
    assert not any(
        r["Type"] == "AWS::Lambda::Function" and "FunctionName" in r["Properties"] for r in resources.values()
    )
    names = physical_names(resources)
    assert {attribute for _, attribute, _ in names} >= {"LogGroupName"}  # the check sees the names there are
    for logical_id, attribute, name in names:
        limit = NAME_LIMITS[(resources[logical_id]["Type"], attribute)]
        assert longest(name) <= limit, (logical_id, attribute, longest(name), limit)


def test_a_name_over_its_limit_is_caught():
    resources = deployed()
    resources["MintFunction"]["Properties"]["FunctionName"] = {"Fn::Sub": "${AWS::StackName}-mint-http"}
    ((_, _, name),) = [n for n in physical_names(resources) if n[1] == "FunctionName"]
    assert longest(name) == 128 + len("-mint-http") > NAME_LIMITS[("AWS::Lambda::Function", "FunctionName")]
    with pytest.raises(AssertionError, match="no known bound"):
        longest({"Fn::GetAtt": ["Somewhere", "Name"]})


def test_a_default_deployment_rotates_the_signing_key_once_at_creation():
    """The custom resource's RotateSecret rotates at once (tests/unit/test_rotation_switch.py)."""
    (switch,) = [r for r in deployed().values() if r["Type"] == "AWS::CloudFormation::CustomResource"]
    assert set(switch["Properties"]) == {"ServiceToken", "SecretId", "RotationLambdaARN", "ScheduleExpression"}
    assert not [
        r
        for r in deployed(SigningKeyRotation="disabled").values()
        if r["Type"] == "AWS::CloudFormation::CustomResource"
    ]


def authorization_output(**parameters: str) -> object:
    outputs = translated(**parameters)["Outputs"]
    values = {name: p.get("Default") for name, p in template()["Parameters"].items()} | parameters
    values["JwtScopes"] = str(values["JwtScopes"]).split(",")
    return resolved(outputs["Authorization"]["Value"], condition_values(parameters), values)


def test_the_authorization_output_says_which_scopes_a_jwt_needs():
    jwt = {"AuthMode": "JWT", "JwtIssuer": "https://i.example", "JwtAudience": "a"}
    assert authorization_output(**jwt) == "JWT: bearer tokens from JwtIssuer for JwtAudience (no scope required)"
    assert authorization_output(**jwt, JwtScopes="stream/mint,stream/all") == {
        "Fn::Sub": [
            "JWT: bearer tokens from JwtIssuer for JwtAudience carrying the scopes ${Scopes}",
            {"Scopes": {"Fn::Join": [" ", ["stream/mint", "stream/all"]]}},
        ]
    }
    assert str(authorization_output(AuthMode="NONE")).startswith("NONE: anyone")
