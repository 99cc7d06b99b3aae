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
    !Ref parameters at their defaults."""
    parameters = template()["Parameters"]
    declared_variables = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    if function is not None:
        own = template()["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        declared_variables |= own
    env = {}
    for name, declared in declared_variables.items():
        is_ref = isinstance(declared, dict) and "!Ref" in declared
        env[name] = str(parameters[declared["!Ref"]].get("Default", "") if is_ref else declared)
    return env | overrides


def function_timeout() -> float:
    return float(template()["Globals"]["Function"]["Timeout"])
