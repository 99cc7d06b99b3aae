"""openapi.yaml: a valid OpenAPI 3.0 document, the definition the HttpApi is built from, and, once
CloudFormation has resolved it for an AuthMode, what SAM itself would write for that authorization.

(That the function answers as the document says is tests/integration/test_openapi_conformance.py.)
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from samtranslator.translator.transform import transform

from localdev.standins.template import api_document, routes, template
from stream_tokens.domain import errors
from stream_tokens.domain.request_schema import load_api_document

DOCUMENT = api_document()
OPERATIONS = {f"POST {path}": item["post"] for path, item in DOCUMENT["paths"].items()}
NO_VALUE = object()


def test_the_document_is_valid_openapi_3_0_and_is_what_the_functions_read():
    assert DOCUMENT["openapi"].startswith("3.0.")  # API Gateway imports 3.0, not 3.1
    validate(DOCUMENT)
    assert load_api_document() == DOCUMENT  # the layer's copy is a link to this file, not a copy


def test_the_http_api_is_defined_from_the_document():
    api = template()["Resources"]["StreamApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert api["Properties"]["DefinitionBody"] == {
        "Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "openapi.yaml"}}
    }
    kinds = {resource["Type"] for resource in template()["Resources"].values()}
    assert not kinds & {"AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer"}
    assert sorted(r.key for r in routes()) == [
        "POST /accounts/{account_id}/stream/{identifier}/token",
        "POST /videos/tokens",
        "POST /videos/{identifier}/token",
    ]


def test_the_handler_serves_exactly_the_documented_routes(app):
    served = {key.replace("<", "{").replace(">", "}") for key in app.module.app.keys}
    assert served == set(OPERATIONS)


def test_intrinsics_appear_only_inside_api_gateway_extensions():
    def walk(node: Any, inside_extension: bool, at: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.startswith(("Fn::", "Ref")) and key != "$ref":
                    assert inside_extension, f"{at}/{key}"
                walk(value, inside_extension or key.startswith("x-amazon-apigateway-"), f"{at}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, inside_extension, f"{at}/{i}")

    walk(DOCUMENT, False, "")


def test_every_status_the_function_can_answer_is_documented():
    statuses = {
        cls.status
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.StreamTokenError) and cls is not errors.StreamTokenError
    }
    assert {400, 403, 404, 413, 429, 500, 502, 504} <= statuses
    single = {"POST /accounts/{account_id}/stream/{identifier}/token", "POST /videos/{identifier}/token"}
    for key, operation in OPERATIONS.items():
        documented = {int(code) for code in operation["responses"]}
        # a batch answers 200 with each item's own status inside; only the batch's own failures are its status
        expected = statuses | {200} if key in single else {200, 400, 413, 429, 500}
        assert expected <= documented, (key, expected - documented)
        assert {401, 403} <= documented  # API Gateway's authorizers


# -- what CloudFormation makes of the document, per AuthMode ------------------------------------
def resolved(node: Any, conditions: dict[str, bool], parameters: dict[str, Any]) -> Any:
    """The document after CloudFormation's Fn::If / Ref (Fn::Sub is left for SAM, as it is)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolved(when_true if conditions[name] else when_false, conditions, parameters)
        if set(node) == {"Ref"}:
            return NO_VALUE if node["Ref"] == "AWS::NoValue" else parameters[node["Ref"]]
        out = {key: resolved(value, conditions, parameters) for key, value in node.items()}
        return {key: value for key, value in out.items() if value is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in (resolved(value, conditions, parameters) for value in node) if v is not NO_VALUE]
    return node


def sam_reference(auth: dict[str, Any] | None) -> dict[str, Any]:
    """The OpenAPI body SAM generates for a function on an HttpApi with this Auth."""

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    source = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "MintFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "app.lambda_handler",
                    "InlineCode": "pass",
                    "Events": {
                        "Mint": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/videos/tokens", "Method": "POST"},
                        }
                    },
                },
            },
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": auth} if auth else {}},
        },
    }
    body: dict[str, Any] = transform(source, {}, NoManagedPolicies())["Resources"]["Api"]["Properties"]["Body"]
    return body


ISSUER, AUDIENCE = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example", ["client-a", "client-b"]
MODES: dict[str, dict[str, Any] | None] = {
    "IAM": {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"},
    "JWT": {
        "Authorizers": {
            "jwt": {
                "IdentitySource": "$request.header.Authorization",
                "JwtConfiguration": {"issuer": ISSUER, "audience": AUDIENCE},
            }
        },
        "DefaultAuthorizer": "jwt",
    },
    "NONE": None,
}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_auth_mode_resolves_to_what_sam_writes_for_it(mode, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert mode in template()["Parameters"]["AuthMode"]["AllowedValues"]
    conditions = {"UseIam": mode == "IAM", "UseJwt": mode == "JWT"}
    ours = resolved(copy.deepcopy(DOCUMENT), conditions, {"JwtIssuer": ISSUER, "JwtAudience": AUDIENCE})
    reference = sam_reference(MODES[mode])

    their_operation = reference["paths"]["/videos/tokens"]["post"]
    integration = ours["components"]["x-amazon-apigateway-integrations"]["mint"]
    for operation in ours["paths"].values():
        assert operation["post"]["x-amazon-apigateway-integration"] == {
            "$ref": "#/components/x-amazon-apigateway-integrations/mint"
        }
    assert {k: v for k, v in integration.items() if k != "timeoutInMillis"} == their_operation[
        "x-amazon-apigateway-integration"
    ]
    assert integration["timeoutInMillis"] > template()["Globals"]["Function"]["Timeout"] * 1000

    (ours_scheme,) = ours["components"]["securitySchemes"].values()
    # on every operation, as SAM writes it (an importer may ignore the document-wide default)
    assert all(item["post"]["security"] == [{"caller": []}] for item in ours["paths"].values())
    extensions = {k: v for k, v in ours_scheme.items() if k.startswith("x-amazon-apigateway-")}
    if mode == "NONE":  # SAM writes no security at all; ours leaves API Gateway nothing to enforce
        assert "components" not in reference
        assert "security" not in their_operation
        assert extensions == {}
    else:
        (their_name, their_scheme) = next(iter(reference["components"]["securitySchemes"].items()))
        assert their_operation["security"] == [{their_name: []}]
        assert extensions == {k: v for k, v in their_scheme.items() if k.startswith("x-amazon-apigateway-")}
        if mode == "IAM":  # the whole scheme, as SAM writes it
            assert ours_scheme | {"description": None} == their_scheme | {"description": None}
        else:  # the same authorizer; SAM declares the scheme oauth2, ours stays apiKey (one scheme for all modes)
            assert (ours_scheme["type"], their_scheme["type"]) == ("apiKey", "oauth2")


def test_the_names_the_document_takes_from_the_template_exist_there():
    """cfn-lint does not look inside AWS::Include: a renamed condition or resource is caught here."""
    found: dict[str, set[str]] = {"conditions": set(), "refs": set(), "subs": set()}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::If" in node:
                found["conditions"].add(node["Fn::If"][0])
            if "Ref" in node:
                found["refs"].add(node["Ref"])
            if "Fn::Sub" in node:
                found["subs"].update(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", node["Fn::Sub"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)
    assert found["conditions"] == {"UseIam", "UseJwt"}
    assert found["conditions"] <= set(template()["Conditions"])
    declared = set(template()["Parameters"]) | set(template()["Resources"])
    assert found["refs"] - {"AWS::NoValue"} == {"JwtIssuer", "JwtAudience"} <= declared
    assert found["subs"] == {"MintFunction"} <= declared


def test_a_batch_item_is_a_token_request_plus_its_video():
    """The batch item schema repeats TokenRequest's fields (an object refusing unknown fields cannot
    extend another in OpenAPI 3.0): they must stay the same fields with the same schemas."""
    schemas = DOCUMENT["components"]["schemas"]
    item, request = schemas["TokenBatchItem"], schemas["TokenRequest"]
    assert item["properties"] == request["properties"] | {
        "identifier": {"$ref": "#/components/schemas/CloudflareId"},
        "account_id": {"$ref": "#/components/schemas/CloudflareId"},
    }
    assert item["required"] == ["identifier"]
    assert item["additionalProperties"] is request["additionalProperties"] is False


def test_the_suites_answer_check_refuses_what_the_document_does_not_say():
    """tests/documented.py, which every HTTP answer of the suite goes through, can fail."""
    from localdev.standins.apigw import http_api_event
    from tests.support import documented

    event = http_api_event("POST", f"/videos/{'a' * 32}/token", "{}")
    refusal = {"success": False, "errors": [{"code": 10014, "message": "m"}], "messages": [], "result": None}
    documented.check(event, 400, {"cache-control": "no-store"}, refusal)
    with pytest.raises(AssertionError, match="not documented"):
        documented.check(event, 418, {}, refusal)
    with pytest.raises(AssertionError, match="breaks the document"):
        documented.check(event, 400, {}, refusal | {"result": {"token": "t"}})
    with pytest.raises(AssertionError, match="header cache-control"):
        documented.check(event, 400, {"cache-control": "max-age=60"}, refusal)
    documented.check(http_api_event("GET", "/nowhere", None), 404, {}, {})  # API Gateway's, not the function's
