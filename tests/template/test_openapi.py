"""openapi.yaml: a valid OpenAPI 3.0 document, the definition the HttpApi is built from, and, once
CloudFormation has resolved it for an AuthMode, what SAM itself would write for that authorization.

(That the function answers as the document says is tests/integration/test_openapi_conformance.py.)
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from samtranslator.translator.transform import transform

from localdev.standins.template import ROOT, api_document, client_api_document, deployed_api_document, routes, template
from stream_tokens.domain import errors
from stream_tokens.domain.request_schema import load_api_document
from tests.template.sam import NoManagedPolicies, translated

DOCUMENT = api_document()
OPERATIONS = {f"POST {path}": item["post"] for path, item in DOCUMENT["paths"].items()}


@pytest.mark.parametrize("mode", ["IAM", "JWT", "NONE"])
def test_the_document_is_valid_openapi_3_0_in_every_auth_mode_and_is_what_the_functions_read(mode):
    assert DOCUMENT["openapi"].startswith("3.0.")  # API Gateway imports 3.0, not 3.1
    parameters = {"AuthMode": mode, "JwtIssuer": "https://issuer.example", "JwtAudience": "a", "JwtScopes": "s"}
    for_clients, deployed = client_api_document(parameters), deployed_api_document(parameters)
    validate(for_clients)
    if mode == "JWT":  # API Gateway's oauth2 scheme lacks OpenAPI's `flows`: only that scheme differs
        assert for_clients["components"]["securitySchemes"]["jwt"]["scheme"] == "bearer"
        del for_clients["components"]["securitySchemes"], deployed["components"]["securitySchemes"]
    assert for_clients == deployed
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
    assert set(app.module.ROUTES) == set(OPERATIONS)


def test_intrinsics_appear_only_inside_api_gateway_extensions_and_the_security_parts():
    """Everything else (paths, schemas, answers) is plain OpenAPI that the functions and the tests read
    as it is; authorization differs per AuthMode (`python -m localdev.standins.template IAM` prints the
    document as deployed, for client generators)."""

    def walk(node: Any, per_mode: bool, at: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.startswith(("Fn::", "Ref")) and key != "$ref":
                    assert per_mode, f"{at}/{key}"
                inside = per_mode or key.startswith("x-amazon-apigateway-") or key in ("security", "securitySchemes")
                walk(value, inside, f"{at}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, per_mode, f"{at}/{i}")

    walk(DOCUMENT, False, "")
    assert "security" not in DOCUMENT, "no document-wide requirement: it would apply with AuthMode NONE too"


def test_every_status_the_function_can_answer_is_documented():
    statuses = {
        cls.status
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.StreamTokenError) and cls is not errors.StreamTokenError
    }
    assert {400, 403, 404, 413, 429, 500, 502, 503, 504} <= statuses
    single = {"POST /accounts/{account_id}/stream/{identifier}/token", "POST /videos/{identifier}/token"}
    for key, operation in OPERATIONS.items():
        documented = {int(code) for code in operation["responses"]}
        # a batch answers 200 with each item's own status inside; only the batch's own failures are its
        # status (the minting policy's: no rule for the caller or too long a batch 403, entitlements 503)
        expected = statuses | {200} if key in single else {200, 400, 403, 413, 429, 500, 503}
        assert expected <= documented, (key, expected - documented)
        assert {401, 403} <= documented  # API Gateway's authorizers


# -- what CloudFormation makes of the document, per AuthMode ------------------------------------
def sam_reference(auth: dict[str, Any] | None) -> dict[str, Any]:
    """The OpenAPI body SAM generates for a function on an HttpApi with this Auth."""

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
SCOPES = ["stream/mint", "videos.read"]


def jwt_auth(scopes: list[str]) -> dict[str, Any]:
    authorizer = {
        "IdentitySource": "$request.header.Authorization",
        "JwtConfiguration": {"issuer": ISSUER, "audience": AUDIENCE},
    }
    return {
        "Authorizers": {"jwt": authorizer | ({"AuthorizationScopes": scopes} if scopes else {})},
        "DefaultAuthorizer": "jwt",
    }


# (the stack's parameters, the HttpApi Auth SAM is given for the same authorization)
MODES = {
    "IAM": ({"AuthMode": "IAM"}, {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}),
    "JWT": ({"AuthMode": "JWT", "JwtScopes": ""}, jwt_auth([])),
    "JWT with scopes": ({"AuthMode": "JWT", "JwtScopes": ",".join(SCOPES)}, jwt_auth(SCOPES)),
    "NONE": ({"AuthMode": "NONE"}, None),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_auth_mode_resolves_to_what_sam_writes_for_it(mode, monkeypatch):
    """The document as CloudFormation resolves it for the stack's parameters against the body SAM's
    own translator writes for an HttpApi with that Auth: the integration, every operation's security
    requirement (scopes included) and the whole security scheme, its OpenAPI type included."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    parameters, auth = MODES[mode]
    assert parameters["AuthMode"] in template()["Parameters"]["AuthMode"]["AllowedValues"]
    ours = deployed_api_document(parameters | {"JwtIssuer": ISSUER, "JwtAudience": AUDIENCE})
    reference = sam_reference(auth)

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

    assert "security" not in ours
    assert "security" not in reference
    ours_schemes = ours["components"].get("securitySchemes", {})
    their_schemes = reference.get("components", {}).get("securitySchemes", {})
    if mode == "NONE":  # nothing to enforce, nothing required
        assert ours_schemes == their_schemes == {}
        assert all("security" not in item["post"] for item in ours["paths"].values())
        assert "security" not in their_operation
        return
    ((our_name, ours_scheme),) = ours_schemes.items()
    ((their_name, their_scheme),) = their_schemes.items()
    # the same scheme as SAM writes it, OpenAPI type included (apiKey + awsSigv4 for IAM, oauth2 + jwt)
    assert {k: v for k, v in ours_scheme.items() if k != "description"} == their_scheme
    assert ours_scheme["type"] == {"IAM": "apiKey"}.get(parameters["AuthMode"], "oauth2")
    # on every operation, as SAM writes it (an importer may ignore a document-wide default)
    (their_requirement,) = their_operation["security"]
    for item in ours["paths"].values():
        assert item["post"]["security"] == [{our_name: their_requirement[their_name]}]
    assert their_requirement[their_name] == (SCOPES if mode == "JWT with scopes" else [])


def test_the_http_api_fails_on_import_warnings_and_sam_takes_the_document_as_it_is(monkeypatch):
    """The whole template through SAM's translator with the document included (as CloudFormation's
    AWS::Include does first): the API is the document, unchanged, and refuses to deploy on a warning."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert template()["Resources"]["StreamApi"]["Properties"]["FailOnWarnings"] is True
    (api,) = [r for r in translated()["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert api["Properties"]["FailOnWarnings"] is True
    body = api["Properties"]["Body"]
    assert body.pop("tags") == [
        *DOCUMENT["tags"],
        {"name": "httpapi:createdBy", "x-amazon-apigateway-tag-value": "SAM"},
    ]
    assert body == {k: v for k, v in DOCUMENT.items() if k != "tags"}  # SAM adds only its tag


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
    assert found["conditions"] == {"UseIam", "UseJwt", "RequireJwtScopes", "AllowCors"}
    assert found["conditions"] <= set(template()["Conditions"])
    declared = set(template()["Parameters"]) | set(template()["Resources"])
    assert found["refs"] - {"AWS::NoValue"} == {"JwtIssuer", "JwtAudience", "JwtScopes", "AllowedOrigins"} <= declared
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


# -- CORS: AllowedOrigins, as API Gateway reads it from the document ----------------------------
SIGV4_HEADERS = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}


@pytest.mark.parametrize(
    ("origins", "expected"),
    [("", None), ("https://a.example", ["https://a.example"]), ("https://a.example,http://localhost:8080", None)],
)
def test_allowed_origins_configure_cors_on_the_http_api_and_empty_means_none(origins, expected):
    """x-amazon-apigateway-cors at the document's root is what API Gateway reads for an HTTP API
    imported from OpenAPI (SAM passes it through: its own CorsConfiguration would resolve the
    parameter at transform time)."""
    parameter = template()["Parameters"]["AllowedOrigins"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], origins)
    condition = template()["Conditions"]["AllowCors"]
    assert condition == {"!Not": [{"!Equals": [{"!Ref": "AllowedOrigins"}, ""]}]}
    ours = deployed_api_document({"AuthMode": "IAM", "AllowedOrigins": origins})
    if not origins:
        assert "x-amazon-apigateway-cors" not in ours
        return
    cors = ours["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == (expected or origins.split(","))
    assert cors["allowMethods"] == ["POST"]
    assert {"content-type"} | SIGV4_HEADERS <= set(cors["allowHeaders"])  # JWT bearer and SigV4 callers alike
    assert "allowCredentials" not in cors  # no cookies: credentials travel in Authorization
    assert set(cors) <= {"allowOrigins", "allowCredentials", "exposeHeaders", "maxAge", "allowMethods", "allowHeaders"}


def test_the_sam_translator_passes_the_cors_extension_to_the_api_unchanged(monkeypatch):
    """What `sam deploy` sends CloudFormation: the whole template through SAM's translator (the
    document included as CloudFormation would include it, before the transform)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    api = translated()["Resources"]["StreamApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    assert api["Properties"]["Body"]["x-amazon-apigateway-cors"] == DOCUMENT["x-amazon-apigateway-cors"]


def response_text(status: str) -> str:
    (response,) = {
        (r if "$ref" not in r else DOCUMENT["components"]["responses"][r["$ref"].rsplit("/", 1)[1]])["description"]
        for operation in OPERATIONS.values()
        if status in operation["responses"]
        for r in [operation["responses"][status]]
    }
    return response


@pytest.mark.parametrize(
    ("error", "status"),
    [(errors.NotPermitted, "403"), (errors.QuotaExceeded, "429"), (errors.EntitlementsUnavailable, "503")],
)
def test_the_minting_policys_answers_are_documented_with_their_codes(error, status):
    """Each answer the minting policy gives (issue 21), on every token route, in the envelope: its
    status's description names the type and the code, ErrorDetail lists the code, and so does
    docs/calling/errors.md; the 429 and the batch's items say Retry-After."""
    assert str(error.status) == status
    text = response_text(status)
    assert error.__name__ in text
    assert str(error.code) in text
    schema = DOCUMENT["components"]["responses"][
        OPERATIONS["POST /videos/{identifier}/token"]["responses"][status]["$ref"].rsplit("/", 1)[1]
    ]
    assert "headers" in schema
    assert {"$ref": "#/components/schemas/Failure"} in schema["content"]["application/json"]["schema"]["oneOf"]
    assert str(error.code) in DOCUMENT["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["description"]
    calling = (ROOT / "docs" / "calling" / "errors.md").read_text()
    (row,) = [line for line in calling.splitlines() if line.startswith(f"| {status} | `{error.__name__}`")]
    assert f"| {error.code} |" in row
    if error is errors.QuotaExceeded:
        assert "Retry-After" in text
        assert "Retry-After" in row
    batch = OPERATIONS["POST /videos/tokens"]["description"]
    assert error.__name__ in batch
