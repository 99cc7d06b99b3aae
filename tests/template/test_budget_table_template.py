"""The shared Cloudflare budget as template.yaml declares it: the table, who may use it and how, and
the numbers the budget's guarantee rests on."""

from __future__ import annotations

from localdev.standins.template import BUDGET_TABLE_VARIABLE, budget_table, function_environment, template
from stream_tokens.adapters import table_item
from stream_tokens.domain import call_window
from tests.support.aws_permissions import ALL_FEATURES, inline_policies

T = template()
RESOURCES = T["Resources"]
MINTING_ROLES = {"MintFunctionRole", "MintDirectFunctionRole"}


def test_the_table_is_on_demand_encrypted_and_forgets_old_counts():
    table = budget_table()
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": table_item.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": table_item.TTL_ATTRIBUTE, "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    declared = T["Globals"]["Function"]["Environment"]["Variables"][BUDGET_TABLE_VARIABLE]
    assert RESOURCES[declared["!Ref"]]["DeletionPolicy"] == "Delete"  # call counts: nothing to keep


def test_only_the_minting_roles_may_read_and_write_it_and_only_what_the_budget_calls():
    table = T["Globals"]["Function"]["Environment"]["Variables"][BUDGET_TABLE_VARIABLE]["!Ref"]
    entitlements = {"!GetAtt": "EntitlementsTableResource.Arn"}  # another table (issue 21; test_template.py)
    granting: dict[str, list[dict]] = {}
    for name, resource in RESOURCES.items():
        assert resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"), name  # inline only
        for policy in inline_policies(resource, ALL_FEATURES) if resource["Type"] == "AWS::IAM::Role" else []:
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Resource"] == entitlements:
                    continue
                if table in str(statement) or "dynamodb" in str(statement).lower():
                    granting.setdefault(name, []).append(statement)
    assert set(granting) == MINTING_ROLES
    for statements in granting.values():
        [statement] = statements
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]  # swap() and _read()
        assert statement["Resource"] == {"!GetAtt": f"{table}.Arn"}


def test_the_functions_get_the_table_and_the_share():
    env = function_environment({})
    assert env["UPSTREAM_CALLS_PER_5_MINUTES"] == str(T["Parameters"]["CloudflareCallsPer5Minutes"]["Default"])
    assert BUDGET_TABLE_VARIABLE in env


def test_a_call_reaches_cloudflare_within_the_slack_the_budget_allows_for():
    """Every retry and Retry-After of a call happens within its invocation, so within the function's
    timeout of its take(); the budget's window allows that plus a second for clocks."""
    timeout = T["Globals"]["Function"]["Timeout"]
    for function in ("MintFunction", "MintDirectFunction"):
        assert RESOURCES[function]["Properties"].get("Timeout", timeout) + 1 <= call_window.SEND_SLACK_SECONDS
