"""Every answer the HTTP handler gives in the test suite is one openapi.yaml documents.

`check(route_key, status, headers, body)` finds the operation, the response documented for the
status, and validates the body against its schema (OpenAPI 3.0 semantics, e.g. `nullable`), and
the documented headers' values; it raises AssertionError naming what differs.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from openapi_schema_validator import OAS30Validator

from localdev.standins.template import api_document, routes


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = api_document()["components"][kind][name]
    return node


@cache
def _validator(route_key: str, status: int) -> tuple[OAS30Validator | None, dict[str, Any]]:
    method, path = route_key.split(" ", 1)
    operation = api_document()["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{route_key} answered {status}, which is not documented"
    response = _resolve(operation["responses"][str(status)])
    content = response.get("content", {}).get("application/json")
    headers = {name.lower(): _resolve(header)["schema"] for name, header in response.get("headers", {}).items()}
    if content is None:
        return None, headers
    schema = content["schema"] | {"components": api_document()["components"]}
    return OAS30Validator(schema), headers


def check(event: dict[str, Any], status: int, headers: dict[str, str], body: Any) -> None:
    """`event` is what the handler was given: its route is the one API Gateway would have matched."""
    method, path = event["requestContext"]["http"]["method"], event["rawPath"]
    matched = [route.key for route in routes() if route.match(method, path) is not None]
    if not matched:
        return  # none of the API's routes: API Gateway itself would have answered
    validator, documented_headers = _validator(matched[0], status)
    if validator is not None:
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, f"{matched[0]} {status}: the body breaks the document: {problems[:3]}"
    for name, schema in documented_headers.items():
        if name in headers:
            problems = [e.message for e in OAS30Validator(schema).iter_errors(headers[name])]
            assert not problems, f"{matched[0]} {status}: header {name}: {problems}"
