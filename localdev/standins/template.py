"""What template.yaml declares, read so that local stand-ins cannot drift from it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
API_DOCUMENT = ROOT / "openapi.yaml"  # the HttpApi's DefinitionBody (AWS::Include)


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags as {"!Tag": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader
    return loaded


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {placeholders}

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@cache
def api_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(API_DOCUMENT.read_text())  # YAML in its JSON form
    return loaded


def routes() -> list[Route]:
    """The HTTP API's routes: every operation of openapi.yaml, as API Gateway imports them."""
    return [
        Route(method.upper(), path)
        for path, operations in api_document()["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "delete", "options", "head", "patch")
    ]


def function_environment(overrides: dict[str, str], function: str | None = None) -> dict[str, str]:
    """The functions' environment from Globals (and `function`'s own variables, when named), with
    !Ref parameters at their defaults (a !Ref to a resource, such as the budget table's name, is ""
    unless `overrides` names it)."""
    parameters = template()["Parameters"]
    declared_variables = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    if function is not None:
        own = template()["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        declared_variables |= own
    env = {name: _default_value(declared, parameters) for name, declared in declared_variables.items()}
    return env | overrides


def _default_value(declared: Any, parameters: dict[str, Any]) -> str:
    """A variable's value for a stack of default parameters: a !Ref parameter's default, a !If
    taken on the default conditions; "" for a resource's name."""
    if isinstance(declared, dict) and "!If" in declared:
        condition, when_true, when_false = declared["!If"]
        return _default_value(when_true if condition_values({})[condition] else when_false, parameters)
    if isinstance(declared, dict) and "!Ref" in declared:
        return str(parameters.get(declared["!Ref"], {}).get("Default", ""))
    return str(declared)


def function_timeout() -> float:
    return float(template()["Globals"]["Function"]["Timeout"])


BUDGET_TABLE_VARIABLE = "UPSTREAM_BUDGET_TABLE"


def budget_table() -> dict[str, Any]:
    """The Properties of the table the functions' UPSTREAM_BUDGET_TABLE names (a !Ref in Globals)."""
    declared = template()["Globals"]["Function"]["Environment"]["Variables"][BUDGET_TABLE_VARIABLE]
    properties: dict[str, Any] = template()["Resources"][declared["!Ref"]]["Properties"]
    return properties


# -- what CloudFormation makes of the document for a stack's parameters -----------------------------
_NO_VALUE = object()


def condition_values(parameters: dict[str, Any]) -> dict[str, bool]:
    """template.yaml's Conditions evaluated for these parameter values (defaults for the others)."""
    values = {name: p.get("Default") for name, p in template()["Parameters"].items()} | parameters
    values = {
        name: [item.strip() for item in str(value or "").split(",")]
        if template()["Parameters"][name]["Type"] == "CommaDelimitedList" and isinstance(value, (str, type(None)))
        else value
        for name, value in values.items()
    }
    conditions: dict[str, bool] = {}

    def evaluate(node: Any) -> Any:
        (function, argument), *_ = node.items()
        if function == "!Ref":
            return values[argument]
        if function == "!Condition":
            return conditions.setdefault(argument, evaluate(template()["Conditions"][argument]))
        if function == "!Join":
            separator, items = argument
            return separator.join(str(item) for item in (evaluate(items) if isinstance(items, dict) else items))
        operands = [evaluate(a) if isinstance(a, dict) else a for a in argument]
        if function == "!Equals":
            return str(operands[0]) == str(operands[1])
        if function == "!Not":
            return not operands[0]
        if function == "!And":
            return all(operands)
        if function == "!Or":
            return any(operands)
        raise ValueError(f"condition function {function} is not known here")

    for name in template()["Conditions"]:
        evaluate({"!Condition": name})
    return conditions


def refusals(parameters: dict[str, str]) -> list[str]:
    """Why CloudFormation would refuse a stack with these parameter values (defaults for the
    others): each value against its AllowedPattern (Java regex matched against the whole value;
    these read the same in Python), then template.yaml's Rules. Empty: it would not refuse."""
    declared = template()["Parameters"]
    values = {name: str(p.get("Default", "")) for name, p in declared.items()} | parameters
    found = [
        f"{name}: {declared[name].get('ConstraintDescription', 'must match ' + declared[name]['AllowedPattern'])}"
        for name, value in parameters.items()
        if "AllowedPattern" in declared[name] and not re.fullmatch(declared[name]["AllowedPattern"], value)
    ]

    def evaluate(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        (function, argument), *_ = node.items()
        if function == "!Ref":
            listed = declared.get(argument, {}).get("Type") == "CommaDelimitedList"
            return [item.strip() for item in values[argument].split(",")] if listed else values[argument]
        operands = [evaluate(a) for a in argument]
        if function in ("!Equals", "!Contains"):
            return operands[0] == operands[1] if function == "!Equals" else operands[1] in operands[0]
        if function in ("!Not", "!And", "!Or"):
            return not operands[0] if function == "!Not" else (all if function == "!And" else any)(operands)
        raise ValueError(f"rule function {function} is not known here")

    for rule in template().get("Rules", {}).values():
        if evaluate(rule.get("RuleCondition", True)):
            found += [a["AssertDescription"] for a in rule["Assertions"] if not evaluate(a["Assert"])]
    return found


def resolved(node: Any, conditions: dict[str, bool], parameters: dict[str, Any]) -> Any:
    """`node` after CloudFormation's Fn::If and Ref to `parameters` (Fn::Sub, Fn::GetAtt and Ref to
    resources stay as they are)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolved(when_true if conditions[name] else when_false, conditions, parameters)
        if set(node) == {"Ref"} and (node["Ref"] == "AWS::NoValue" or node["Ref"] in parameters):
            return _NO_VALUE if node["Ref"] == "AWS::NoValue" else parameters[node["Ref"]]
        if set(node) == {"Fn::Split"}:
            separator, value = node["Fn::Split"]
            return str(resolved(value, conditions, parameters)).split(separator)
        out = {key: resolved(value, conditions, parameters) for key, value in node.items()}
        return {key: value for key, value in out.items() if value is not _NO_VALUE}
    if isinstance(node, list):
        return [v for v in (resolved(value, conditions, parameters) for value in node) if v is not _NO_VALUE]
    return node


def deployed_api_document(parameters: dict[str, Any]) -> dict[str, Any]:
    """openapi.yaml as CloudFormation hands it to API Gateway for a stack with these parameters
    (AuthMode, JwtIssuer, JwtAudience and JwtScopes; lists as lists or comma-separated text)."""
    listed = {
        name: value.split(",") if isinstance(value, str) and name in ("JwtAudience", "JwtScopes") else value
        for name, value in parameters.items()
    }
    document: dict[str, Any] = resolved(api_document(), condition_values(parameters), listed)
    if not document["components"].get("securitySchemes", True):
        del document["components"]["securitySchemes"]
    return document


def client_api_document(parameters: dict[str, Any]) -> dict[str, Any]:
    """The deployed document as a client generator should read it: API Gateway's JWT scheme is an
    `oauth2` scheme without the `flows` OpenAPI requires (as AWS and SAM write it); a client sees it
    as what it is to a caller, a bearer JWT."""
    document = deployed_api_document(parameters)
    for name, scheme in document["components"].get("securitySchemes", {}).items():
        if scheme.get("x-amazon-apigateway-authorizer", {}).get("type") == "jwt":
            bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": scheme["description"]}
            document["components"]["securitySchemes"][name] = bearer
    return document


if __name__ == "__main__":  # python -m localdev.standins.template IAM|JWT|NONE: the document for client generators
    import sys

    print(json.dumps(client_api_document({"AuthMode": sys.argv[1] if len(sys.argv) > 1 else "IAM"}), indent=2))
