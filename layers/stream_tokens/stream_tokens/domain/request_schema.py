"""The request's shape as the API document states it, and the wording of its errors.

The shape is `TokenRequest` in the API's OpenAPI document (`openapi.yaml`, the one source), checked
with fastjsonschema. The whole-schema validator every request runs ships compiled ahead of time
(`token_request_validator`, written by `make validator`); only when it refuses a body is each
top-level field and each access rule checked on its own, to list every broken field together.
Why: docs/design/request-schema.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from . import token_request_validator
from .errors import INVALID_VALUE, UNKNOWN_FIELD, ErrorDetail

KEY_FIELDS = ("id", "pem")  # both or neither (as anyOf + not in the schema, it breaks client generators)
_KEY_PAIRS = (KEY_FIELDS, KEY_FIELDS[::-1])
_TYPE_NAMES = {
    "integer": "an integer",
    "boolean": "a boolean (true or false)",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}

Validator = Callable[[Any], Any]


def load_api_document() -> dict[str, Any]:
    """The OpenAPI document shipped in this package (a link to the repository's openapi.yaml),
    read with `json`: it is YAML written in its JSON form (docs/design/request-schema.md)."""
    text = resources.files("stream_tokens").joinpath("openapi.yaml").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def schema_errors(fields: Mapping[str, Any]) -> list[ErrorDetail]:
    """Every way `fields` breaks the TokenRequest schema, at most one per field and array item."""
    return _schema().errors(fields)


class _Schema:
    """A compiled schema of the API document, with per-field validators for listing every error.

    Only the whole schema is compiled up front (the one every request runs); the per-field
    validators, which only a failing body needs, are compiled the first time one is needed.
    """

    def __init__(self, document: dict[str, Any], name: str, whole: Validator | None = None) -> None:
        """`whole`: the schema's validator compiled ahead of time, if there is one."""
        self.root = {"components": {"schemas": document["components"]["schemas"]}}  # where $refs point
        schema = self._resolve({"$ref": f"#/components/schemas/{name}"})
        self.whole: Validator = whole or self._compile(schema)
        self.properties: dict[str, dict[str, Any]] = schema["properties"]

    @cache  # noqa: B019 - one _Schema per process, never freed
    def field(self, name: str) -> Validator:
        """The validator of one top-level field (without its array items)."""
        return self._compile({k: v for k, v in self._resolve(self.properties[name]).items() if k != "items"})

    @cache  # noqa: B019 - one _Schema per process, never freed
    def item(self, name: str) -> Validator | None:
        """The validator of one item of an array field, if the field has `items`."""
        resolved = self._resolve(self.properties[name])
        return self._item_validator(self._resolve(resolved["items"])) if "items" in resolved else None

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.root["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def _compile(self, schema: dict[str, Any]) -> Validator:
        return fastjsonschema.compile(schema | self.root)  # as whole_schema() builds it

    def _item_validator(self, schema: dict[str, Any]) -> Validator:
        """An array item's validator; a oneOf with a discriminator (the access rules) checks the
        item against the one schema its discriminating property names, for a precise error."""
        if "discriminator" not in schema:
            return self._compile(schema)
        tag = schema["discriminator"]["propertyName"]
        shapes = {value: self._resolve({"$ref": ref}) for value, ref in schema["discriminator"]["mapping"].items()}
        validators = {value: self._compile(shape) for value, shape in shapes.items()}
        known = {name for shape in shapes.values() for name in shape["properties"]}

        def validate(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Refusal("data", value, "type", {"type": "object"})
            if tag not in value:
                raise _Refusal("data", value, "required", {"required": [tag]})
            if not isinstance(value[tag], str) or value[tag] not in shapes:
                raise _Refusal(f"data.{tag}", value[tag], "enum", {"enum": list(shapes)})
            for name in value:
                if name in known and name not in shapes[value[tag]]["properties"]:
                    raise _Refusal(f"data.{name}", value[name], None, {})  # a field of another rule type
            return validators[value[tag]](value)

        return validate

    def errors(self, fields: Mapping[str, Any]) -> list[ErrorDetail]:
        """Every schema error in `fields`, at most one per field and per array item."""
        unpaired = [
            ErrorDetail(INVALID_VALUE, f"{other} is required when {name} is given", pointer([other]))
            for name, other in _KEY_PAIRS
            if name in fields and other not in fields
        ]
        try:
            self.whole(fields)
            return unpaired
        except fastjsonschema.JsonSchemaValueException:
            pass
        found: list[ErrorDetail] = []
        for name, value in fields.items():
            if name not in self.properties:
                shown = name if len(name) <= 64 else name[:61] + "..."
                found.append(ErrorDetail(UNKNOWN_FIELD, f"unknown field {shown!r}", pointer([name])))
                continue
            if not _collect(self.field(name), value, [name], found) and (item := self.item(name)) is not None:
                for i, element in enumerate(value):
                    _collect(item, element, [name, str(i)], found)
        if not found:  # a rule no field-by-field check covers: still refused, never let through
            found.append(ErrorDetail(INVALID_VALUE, "the body does not match the TokenRequest schema", ""))
        return found + unpaired


class _Refusal(fastjsonschema.JsonSchemaValueException):
    """An error found outside fastjsonschema, in its shape (`name` is the path, `rule` the keyword)."""

    def __init__(self, name: str, value: Any, rule: str | None, definition: dict[str, Any]) -> None:
        super().__init__(f"{name} breaks {rule}", value, name, definition, rule)


def _collect(validate: Validator, value: Any, at: list[str], found: list[ErrorDetail]) -> bool:
    """Run one validator; on failure append its error (rooted at `at`) and return True."""
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        found.extend(_details(exc, at))
        return True
    return False


def _details(exc: fastjsonschema.JsonSchemaValueException, at: list[str]) -> list[ErrorDetail]:
    path = at + [str(p) for p in exc.path[1:]]
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    if exc.rule == "required":
        present = exc.value if isinstance(exc.value, dict) else {}
        return [
            ErrorDetail(INVALID_VALUE, f"{dotted(path + [name])} is required", pointer(path + [name]))
            for name in definition["required"]
            if name not in present
        ]
    if exc.rule == "additionalProperties":
        extra = sorted(set(exc.value) - set(definition.get("properties", {})))
        return [
            ErrorDetail(UNKNOWN_FIELD, f"unknown field {dotted(path + [name])!r}", pointer(path + [name]))
            for name in extra
        ]
    return [ErrorDetail(INVALID_VALUE, f"{dotted(path)} {_reason(exc.rule, definition)}", pointer(path))]


def _reason(rule: str | None, definition: dict[str, Any]) -> str:
    if rule == "type":
        return f"must be {_TYPE_NAMES.get(definition['type'], definition['type'])}"
    if rule == "enum":
        allowed = definition["enum"]
        if len(allowed) <= 5:
            return "must be one of " + ", ".join(repr(a) for a in allowed)
        return f"is not an allowed value ({definition.get('description', 'see the schema')})"
    if rule == "maxItems":
        return f"must have at most {definition['maxItems']} items"
    if rule == "minItems":
        return "must not be empty" if definition["minItems"] == 1 else f"needs {definition['minItems']} items"
    if rule == "maxLength":
        return f"must be at most {definition['maxLength']} characters"
    if rule == "minLength":
        return "must not be empty"
    if rule == "pattern":
        return "must be 32 hexadecimal characters"
    if rule is None:  # a field of another access-rule type (see _item_validator)
        return "is not allowed with this rule type"
    return f"is invalid ({rule})"


def dotted(path: list[str]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def pointer(path: list[str]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def whole_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The definition `name`'s whole-schema validator is compiled from (with the document's
    schemas, where its $refs point)."""
    schemas: dict[str, dict[str, Any]] = document["components"]["schemas"]
    return schemas[name] | {"components": {"schemas": schemas}}


@cache
def _schema() -> _Schema:
    return _Schema(load_api_document(), "TokenRequest", token_request_validator.validate)
