"""What template.yaml promises: arm64 python3.13, Powertools from AWS's layer, minting never open,
least privilege, throttling, logs with retention, and the routes the handler serves.
(sam validate --lint and cfn-lint run in `make template`.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from localdev.standins.template import function_environment, template
from tests.support.aws_permissions import ALL_FEATURES, inline_policies
from tests.template.sam import SECRET_ARN

ROOT = Path(__file__).resolve().parents[2]
T = template()
RESOURCES = T["Resources"]


def resources(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def pinned_powertools(requirements: Path) -> str:
    (version,) = re.findall(r"^aws-lambda-powertools(?:\[[^]]*\])?==([0-9.]+)", requirements.read_text(), re.M)
    return version


def test_functions_run_python313_on_arm64_with_the_powertools_release_the_tests_run_and_our_layer():
    """The layer is AWS's, read from the public SSM parameter Powertools publishes for each release
    (/aws/service/powertools/python/{arch}/{python}/{version}), for the release requirements/dev.txt
    pins; only if an operator gives PowertoolsLayerArn (that parameter missing) does another apply."""
    function = T["Globals"]["Function"]
    assert function["MemorySize"] == 1024  # chosen from make bench's estimates on Lambda (docs/benchmarks.md)
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    powertools, ours = function["Layers"]
    condition, given, published = powertools["!If"]
    assert (condition, given) == ("PowertoolsLayerGiven", {"!Ref": "PowertoolsLayerArn"})
    assert T["Conditions"]["PowertoolsLayerGiven"] == {"!Not": [{"!Equals": [{"!Ref": "PowertoolsLayerArn"}, ""]}]}
    assert T["Parameters"]["PowertoolsLayerArn"]["Default"] == ""
    version = pinned_powertools(ROOT / "requirements" / "dev.txt")
    assert published == "{{resolve:ssm:/aws/service/powertools/python/arm64/python3.13/" + version + "}}"
    assert pinned_powertools(ROOT / "requirements" / "dev.in") == version
    assert (ROOT / "template.yaml").read_text().count(version) == 1, "the release is written in one place"
    layer_requirements = (ROOT / "layers" / "stream_tokens" / "requirements.txt").read_text()
    assert "aws-lambda-powertools" not in layer_requirements, "Powertools comes from AWS's layer only"
    assert ours == {"!Ref": "StreamTokensLayer"}
    layer = RESOURCES["StreamTokensLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}  # ships bytecode
    for name in ("MintFunction", "MintDirectFunction", "RotateSigningKeyFunction"):
        metadata = RESOURCES[name]["Metadata"]
        assert (metadata["BuildMethod"], metadata["BuildArchitecture"], metadata["ContextPath"]) == (
            "makefile",
            "arm64",
            "functions",
        )
    assert layer["Properties"]["ContentUri"] == "layers/stream_tokens/"
    mint = RESOURCES["MintFunction"]["Properties"]
    assert (mint["CodeUri"], mint["Handler"]) == ("functions/mint_http/", "app.lambda_handler")
    assert sorted(p.name for p in (ROOT / "functions" / "mint_http").iterdir() if p.suffix == ".py") == ["app.py"]


BUDGET_STATEMENT = {  # the shared Cloudflare budget's table (issue 13; tests/template/test_budget_table_template.py)
    "Sid": "CountCloudflareCalls",
    "Effect": "Allow",
    "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
    "Resource": {"!GetAtt": "CloudflareCallBudgetTable.Arn"},
}


def statements(role: str, parameters: dict[str, str] | None = None) -> list[dict]:
    """The role's inline statements in a stack with these parameters (defaults for the others)."""
    return [s for p in inline_policies(RESOURCES[role], parameters) for s in p["PolicyDocument"]["Statement"]]


def policy_reads(parameters: dict[str, str]) -> list[dict]:
    """What the minting policy adds to each minting role (issue 21): its parameter, the entitlements
    table, the operator's entitlement function, each only when the stack has it."""
    parameter_arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${PolicyParameterName}"
    reads = {
        "PolicyParameterName": {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": {"!Sub": parameter_arn}},
        "EntitlementsTable": {
            "Effect": "Allow",
            "Action": "dynamodb:BatchGetItem",
            "Resource": {"!GetAtt": "EntitlementsTableResource.Arn"},
        },
        "EntitlementFunctionArn": {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"!Ref": "EntitlementFunctionArn"},
        },
    }
    return [statement for name, statement in reads.items() if name in parameters]


def test_the_role_reads_one_secret_and_writes_one_log_group():
    role = RESOURCES["MintFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert statements("MintFunctionRole") == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"!Ref": "CloudflareSecretArn"}},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"!GetAtt": "MintFunctionLogGroup.Arn"},
        },
        BUDGET_STATEMENT,
    ]
    assert RESOURCES["MintFunction"]["Properties"]["Role"] == {"!GetAtt": "MintFunctionRole.Arn"}


@pytest.mark.parametrize("role", ["MintFunctionRole", "MintDirectFunctionRole"])
@pytest.mark.parametrize("feature", [*ALL_FEATURES, "all"])
def test_the_policy_reads_are_granted_only_to_a_stack_that_has_them(role, feature):
    """ssm:GetParameter on the policy parameter alone, dynamodb:BatchGetItem on the entitlements
    table alone, lambda:InvokeFunction on the operator's function alone; none by default."""
    parameters = ALL_FEATURES if feature == "all" else {feature: ALL_FEATURES[feature]}
    default = statements(role)
    assert not {"ssm:GetParameter", "dynamodb:BatchGetItem", "lambda:InvokeFunction"} & {
        action for s in default for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert statements(role, parameters) == default + policy_reads(parameters)


def test_throttling_concurrency_and_log_retention_are_parameters():
    stage = RESOURCES["StreamApi"]["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"!Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"!Ref": "ThrottlingBurstLimit"},
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == {"!GetAtt": "StreamApiAccessLogs.Arn"}
    json.loads(stage["AccessLogSettings"]["Format"])  # a JSON access log line
    for group in resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"!Ref": "LogRetentionDays"}
    mint = RESOURCES["MintFunction"]["Properties"]
    assert mint["LoggingConfig"]["LogGroup"] == {"!Ref": "MintFunctionLogGroup"}


def test_outputs_and_environment():
    assert {"ApiUrl", "MintFunctionArn", "Authorization"} <= set(T["Outputs"])
    env = function_environment({})
    assert env["CLOUDFLARE_BASE_URL"] == "https://api.cloudflare.com/client/v4"
    assert env["MAX_TOKEN_LIFETIME_SECONDS"] == "3600"  # Cloudflare's default lifetime (issue 21)
    assert env["SECRET_MAX_AGE_SECONDS"] == "300"
    assert env["SIGNING_MODE"] == "auto"
    assert T["Parameters"]["SigningMode"]["AllowedValues"] == ["auto", "local", "api"]


def test_the_cloudflare_schema_copy_is_the_shared_one():
    ours = ROOT / "localdev" / "standins" / "cloudflare-openapi-stream-fragment.json"
    shared = ROOT.parent / "shared" / "cloudflare" / "openapi-stream-fragment.json"
    if shared.exists():  # beside a checkout in this workplace; the copy travels with the repository
        assert json.loads(ours.read_text()) == json.loads(shared.read_text())
    assert "/accounts/{account_id}/stream/{identifier}/token" in json.loads(ours.read_text())["paths"]


def test_the_direct_function_is_wired_to_eventbridge_and_lambda_destinations():
    direct = RESOURCES["MintDirectFunction"]["Properties"]
    assert (direct["CodeUri"], direct["Handler"]) == ("functions/mint_direct/", "app.lambda_handler")
    assert sorted(p.name for p in (ROOT / "functions" / "mint_direct").iterdir() if p.suffix == ".py") == ["app.py"]
    rule = direct["Events"]["TokenRequested"]
    pattern = {
        "account": [{"!Ref": "AWS::AccountId"}],
        "source": [{"!Ref": "DirectEventSource"}],
        "detail-type": [{"!Ref": "DirectDetailType"}],
    }
    assert rule["Type"] == "EventBridgeRule"
    assert rule["Properties"]["Pattern"] == pattern
    assert rule["Properties"]["DeadLetterConfig"] == {"Arn": {"!GetAtt": "MintFailureQueue.Arn"}}
    queue_policy = RESOURCES["MintFailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert queue_policy["Effect"] == "Allow"
    assert queue_policy["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"!GetAtt": "MintDirectFunctionTokenRequested.Arn"}}
    }
    assert direct["EventInvokeConfig"]["MaximumRetryAttempts"] == {"!Ref": "DirectAsyncRetries"}
    assert T["Parameters"]["DirectAsyncRetries"]["Default"] == 0
    assert "DirectEventsDoNotLoop" in T["Rules"]
    destinations = direct["EventInvokeConfig"]["DestinationConfig"]
    assert destinations["OnSuccess"] == {"Type": "SQS", "Destination": {"!GetAtt": "MintResultsQueue.Arn"}}
    assert destinations["OnFailure"] == {"Type": "SQS", "Destination": {"!GetAtt": "MintFailureQueue.Arn"}}
    assert RESOURCES["MintFailureQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert [(s["Action"], s["Resource"]) for s in statements("MintDirectFunctionRole")] == [
        ("secretsmanager:GetSecretValue", {"!Ref": "CloudflareSecretArn"}),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"!GetAtt": "MintDirectFunctionLogGroup.Arn"}),
        ("sqs:SendMessage", [{"!GetAtt": "MintResultsQueue.Arn"}, {"!GetAtt": "MintFailureQueue.Arn"}]),
        (BUDGET_STATEMENT["Action"], BUDGET_STATEMENT["Resource"]),
    ]
    assert {"MintDirectFunctionArn", "MintFailureQueueUrl", "MintResultsQueueUrl"} <= set(T["Outputs"])
    env = function_environment({})
    assert (env["BATCH_MAX_ITEMS"], env["UPSTREAM_CONCURRENCY"]) == ("100", "4")


def test_every_suppressed_finding_says_why():
    """checkov and cfn-lint run in `make template`; what they are told to skip carries its reason."""
    skipped = 0
    for name, resource in RESOURCES.items():
        metadata = resource.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, (name, skip)
            skipped += 1
        skipped += len(metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", []))
    text = (ROOT / "template.yaml").read_text()
    for check in ("WS1000", "WS1004", "ES6000", "ES7000"):
        for line in (line for line in text.splitlines() if f"- {check}" in line):
            assert "#" in line, line
            assert len(line.split("#", 1)[1].strip()) > 20, line
    # issue 15: the alarm topic's KMS key and its email subscription's redrive (each says why);
    # issue 13: the budget table's point-in-time recovery and customer managed key
    # issue 22: the results queue's SSE-SQS and redrive; the rotation switch's log group, function and cfn-lint
    # issue 21: the entitlements table's customer managed key
    assert skipped == 36


def test_signing_key_rotation_is_wired_with_least_privilege_and_on_unless_disabled():
    function = RESOURCES["RotateSigningKeyFunction"]["Properties"]
    assert (function["CodeUri"], function["Handler"]) == ("functions/rotate_signing_key/", "app.lambda_handler")
    assert sorted(p.name for p in (ROOT / "functions" / "rotate_signing_key").iterdir() if p.suffix == ".py") == [
        "app.py"
    ]
    assert function["Environment"]["Variables"] == {"RETIRED_KEY_GRACE_SECONDS": {"!Ref": "RetiredKeyGraceSeconds"}}
    assert function["LoggingConfig"]["LogGroup"] == {"!Ref": "RotateSigningKeyFunctionLogGroup"}
    assert function["Role"] == {"!GetAtt": "RotateSigningKeyFunctionRole.Arn"}
    # issue 22: the rotated secret is the signing-key secret when there is one, and the rotation
    # then only reads the Cloudflare secret (its API token)
    rotated = {"!If": ["SigningKeySecretGiven", {"!Ref": "SigningKeySecretArn"}, {"!Ref": "CloudflareSecretArn"}]}
    staging = [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    logs = (["logs:CreateLogStream", "logs:PutLogEvents"], {"!GetAtt": "RotateSigningKeyFunctionLogGroup.Arn"})
    role = RESOURCES["RotateSigningKeyFunctionRole"]
    for parameters, api_read in [
        ({}, []),
        ({"SigningKeySecretArn": SECRET_ARN}, [("secretsmanager:GetSecretValue", {"!Ref": "CloudflareSecretArn"})]),
    ]:
        statements = [s for p in inline_policies(role, parameters) for s in p["PolicyDocument"]["Statement"]]
        assert [(s["Action"], s["Resource"]) for s in statements] == [(staging, rotated), *api_read, logs]
    permission = RESOURCES["RotateSigningKeyPermission"]["Properties"]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"!GetAtt": "RotateSigningKeyFunction.Arn"},
        "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": {"!Ref": "AWS::AccountId"},
        "SourceArn": rotated,
    }
    assert "ReservedConcurrentExecutions" not in function, "no reservation: it would count even with rotation off"
    # issue 22: a custom resource turns rotation on (RotateSecret, a first rotation at once), as
    # AWS::SecretsManager::RotationSchedule did, which the Serverless Application Repository refuses
    schedule = RESOURCES["CloudflareSecretRotation"]
    assert schedule["Type"] == "AWS::CloudFormation::CustomResource"
    assert schedule["Condition"] == "RotateSigningKey"
    assert schedule["DependsOn"] == "RotateSigningKeyPermission"
    assert T["Conditions"]["RotateSigningKey"] == {"!Equals": [{"!Ref": "SigningKeyRotation"}, "enabled"]}
    assert T["Parameters"]["SigningKeyRotation"]["Default"] == "enabled"
    assert schedule["Properties"] == {
        "ServiceToken": {"!GetAtt": "TurnOnRotationFunction.Arn"},
        "SecretId": rotated,
        "RotationLambdaARN": {"!GetAtt": "RotateSigningKeyFunction.Arn"},
        "ScheduleExpression": {"!Ref": "SigningKeyRotationSchedule"},
    }
    switch = [
        (s["Action"], s["Resource"])
        for p in RESOURCES["TurnOnRotationFunctionRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert switch == [
        (
            ["secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret"],
            {
                "!If": [  # both while moving to a signing-key secret: the old schedule is turned off
                    "SigningKeySecretGiven",
                    [{"!Ref": "SigningKeySecretArn"}, {"!Ref": "CloudflareSecretArn"}],
                    {"!Ref": "CloudflareSecretArn"},
                ]
            },
        ),
        ("lambda:InvokeFunction", {"!GetAtt": "RotateSigningKeyFunction.Arn"}),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"!GetAtt": "TurnOnRotationFunctionLogGroup.Arn"}),
    ]
    grace = T["Parameters"]["RetiredKeyGraceSeconds"]
    assert grace["MinValue"] >= 86400 + 3600
    assert grace["Default"] >= grace["MinValue"]
    assert "RotateSigningKeyFunctionArn" in T["Outputs"]


@pytest.mark.parametrize(
    ("expression", "accepted"),
    [
        ("rate(30 days)", True),
        ("rate(1 day)", True),
        ("rate(999 days)", True),
        ("rate(4 hours)", True),
        ("rate(12 hours)", True),
        ("rate(48 hours)", True),
        ("cron(0 4 ? * SUN *)", True),
        ("rate(3 hours)", False),
        ("rate(1 hour)", False),
        ("rate(0 days)", False),
        ("rate(03 hours)", False),
        ("rate(1000 days)", False),
        ("rate(30 minutes)", False),
        ("rate(30days)", False),
        ("cron(0 4 * * ?)", False),
        ("cron(0 4 ? * SUN *) ", False),
    ],
)
def test_the_rotation_schedule_refuses_rates_under_four_hours(expression, accepted):
    """CloudFormation matches AllowedPattern against the whole value (Java regex; this one reads the
    same in Python)."""
    pattern = T["Parameters"]["SigningKeyRotationSchedule"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, expression)) is accepted
    assert re.fullmatch(pattern, T["Parameters"]["SigningKeyRotationSchedule"]["Default"])
