"""Turn what a caller sent into a `TokenRequest`, or say precisely what is wrong with it.

The request's shape is `TokenRequest` in the API's OpenAPI document (`openapi.yaml`, the one
source: API Gateway, client generators and this module all read it), checked with fastjsonschema;
the checks a schema cannot express (time windows, IP syntax, key material) follow in code.
fastjsonschema stops at the first error, so when a body fails, each top-level field and each
access rule is checked on its own to list every broken field together.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from .errors import (
    BODY_NOT_JSON,
    BODY_NOT_OBJECT,
    INVALID_IDENTIFIER,
    INVALID_VALUE,
    UNKNOWN_FIELD,
    ErrorDetail,
    InvalidRequest,
    PayloadTooLarge,
)
from .model import (
    DEFAULT_LIFETIME,
    DEFAULT_NBF_LEAD,
    AccessRule,
    SigningKey,
    TokenFlags,
    TokenRequest,
    is_cloudflare_id,
)

MAX_BODY_BYTES = 16 * 1024
MAX_BATCH_BODY_BYTES = 512 * 1024
_PEM_LABEL = "RSA PRIVATE KEY"  # PKCS#1, as Cloudflare's POST /stream/keys returns keys
_PEM_BEGIN, _PEM_END = f"-----BEGIN {_PEM_LABEL}-----", f"-----END {_PEM_LABEL}-----"
_KEY_FIELDS = ("id", "pem")  # both or neither (as anyOf + not in the schema, it breaks client generators)
_TYPE_NAMES = {
    "integer": "an integer",
    "boolean": "a boolean (true or false)",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}

Validator = Callable[[Any], Any]


def load_api_document() -> dict[str, Any]:
    """The OpenAPI document shipped in this package (a link to the repository's openapi.yaml).

    It is written in YAML's JSON form, so the standard library reads it: a YAML parser in the
    layer would cost 748 KiB of deployment and ~15 ms of every cold start.
    """
    text = resources.files(__package__).joinpath("openapi.yaml").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def check_identifier(name: str, value: object) -> str:
    """A video or account id: exactly 32 hex characters, checked before it goes near a URL."""
    if not is_cloudflare_id(value):
        raise InvalidRequest([ErrorDetail(INVALID_IDENTIFIER, f"{name} must be 32 hexadecimal characters", f"/{name}")])
    return value.lower()


def decode_body(raw: str | None, *, base64_encoded: bool = False, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The JSON object a caller sent over HTTP; no body (or only whitespace) means `{}`."""
    try:
        data = (raw or "").encode()
    except UnicodeEncodeError:  # a lone surrogate: not text any client could have sent as UTF-8
        raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, "the body is not valid UTF-8", "")]) from None
    if base64_encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, "the body is not valid base64", "")]) from None
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is {len(data)} bytes; at most {limit} are accepted")
    if not data.strip():
        return {}
    try:
        fields = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge ints
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidRequest([ErrorDetail(BODY_NOT_JSON, f"the body is not valid JSON: {reason}", "")]) from None
    if not isinstance(fields, dict):
        raise InvalidRequest(
            [ErrorDetail(BODY_NOT_OBJECT, 'the body must be a JSON object, e.g. {"exp": 1700000000}', "")]
        )
    return fields


def batch_items(value: object, *, at: str, max_items: int) -> list[Any]:
    """The list of requests in a batch: an array of 1 to `max_items` items (checked one by one later)."""
    if not isinstance(value, list):
        problem = "must be an array of token requests"
    elif not value:
        problem = "must not be empty"
    elif len(value) > max_items:
        problem = f"must have at most {max_items} items (it has {len(value)})"
    else:
        return value
    raise InvalidRequest([ErrorDetail(INVALID_VALUE, f"{_dotted(_path(at)) or 'the list of requests'} {problem}", at)])


def batch_body(fields: Mapping[str, Any], *, max_items: int) -> list[Any]:
    """`{"requests": [...]}`, the body of POST /videos/tokens."""
    unknown = [name for name in fields if name != "requests"]
    problems = [ErrorDetail(UNKNOWN_FIELD, f"unknown field {name!r}", _pointer([name])) for name in unknown]
    if "requests" not in fields:
        problems.append(ErrorDetail(INVALID_VALUE, "requests is required", "/requests"))
    if problems:
        raise InvalidRequest(problems)
    return batch_items(fields["requests"], at="/requests", max_items=max_items)


def request_item(item: object, *, at: str, now: int, max_lifetime: int) -> tuple[TokenRequest, str | None]:
    """One request object of a batch or a direct invocation: `{"identifier", "account_id"?, <fields>}`.

    Pointers in errors are rooted at `at` (e.g. /requests/3/exp).
    """
    try:
        if not isinstance(item, dict):
            raise InvalidRequest([ErrorDetail(INVALID_VALUE, "a token request must be a JSON object", "")])
        fields = {name: value for name, value in item.items() if name not in ("identifier", "account_id")}
        return checked_request(
            item.get("identifier"),
            lambda: fields,
            account_id=item.get("account_id"),
            now=now,
            max_lifetime=max_lifetime,
        )
    except InvalidRequest as exc:
        raise InvalidRequest([_rooted(detail, at) for detail in exc.details]) from None


def _rooted(detail: ErrorDetail, at: str) -> ErrorDetail:
    """The same error, its pointer inside the item at `at` (the message stays as it is)."""
    return ErrorDetail(detail.code, detail.message, at + (detail.pointer or ""))


def _path(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def checked_request(
    video_id: object,
    read_fields: Callable[[], Mapping[str, Any]],
    *,
    account_id: object = None,
    now: int,
    max_lifetime: int,
) -> tuple[TokenRequest, str | None]:
    """The identifiers and the body together, so that one answer lists every problem in all three.

    Returns the request and the (normalised) account id the caller named, if any. A body over the
    size limit is refused at once (413).
    """
    problems: list[ErrorDetail] = []

    def attempt[T](step: Callable[[], T]) -> T | None:
        try:
            return step()
        except InvalidRequest as exc:
            problems.extend(exc.details)
            return None

    video = attempt(lambda: check_identifier("identifier", video_id))
    account = None if account_id is None else attempt(lambda: check_identifier("account_id", account_id))
    fields = attempt(read_fields)
    request = None
    if fields is not None:
        request = attempt(lambda: token_request(video or "", fields, now=now, max_lifetime=max_lifetime))
    if problems or request is None:
        raise InvalidRequest(problems)
    return request, account


def token_request(video_id: str, fields: Mapping[str, Any], *, now: int, max_lifetime: int) -> TokenRequest:
    """Validate `fields` (a token request body) for `video_id`, resolving Cloudflare's defaults.

    Raises InvalidRequest listing every broken field: the schema's findings first, then the
    checks a schema cannot express, for the fields the schema had no complaint about.
    """
    problems = _schema().errors(fields)
    broken = {d.pointer for d in problems}

    def sound(pointer: str) -> bool:
        return not any(b == pointer or (b or "").startswith(pointer + "/") for b in broken)

    exp = int(fields["exp"]) if "exp" in fields and sound("/exp") else now + DEFAULT_LIFETIME
    nbf = int(fields["nbf"]) if "nbf" in fields and sound("/nbf") else now - DEFAULT_NBF_LEAD
    if "exp" in fields and sound("/exp"):
        if exp <= now:
            problems.append(ErrorDetail(INVALID_VALUE, "exp must be in the future", "/exp"))
        elif exp > now + max_lifetime:
            problems.append(ErrorDetail(INVALID_VALUE, f"exp must be at most {max_lifetime} seconds from now", "/exp"))
    if "nbf" in fields and sound("/nbf") and nbf >= exp:
        problems.append(ErrorDetail(INVALID_VALUE, "nbf must be before exp", "/nbf"))
    rules = fields.get("accessRules")
    if isinstance(rules, list) and "/accessRules" not in broken:  # each rule was then checked alone
        for i, rule in enumerate(rules):
            for j, address in enumerate(rule.get("ip", ()) if sound(f"/accessRules/{i}") else ()):
                if not _is_ip_or_cidr(address):
                    problems.append(
                        ErrorDetail(
                            INVALID_VALUE,
                            f"accessRules[{i}].ip[{j}] must be an IPv4 or IPv6 address or CIDR",
                            f"/accessRules/{i}/ip/{j}",
                        )
                    )
    if "pem" in fields and sound("/pem") and not _is_base64_pem_rsa_key(fields["pem"]):
        problems.append(
            ErrorDetail(
                INVALID_VALUE,
                "pem must be the base64 of a PEM RSA private key (PKCS#1, an 'RSA PRIVATE KEY' block), "
                "as Cloudflare's POST /stream/keys returns it",
                "/pem",
            )
        )
    if problems:
        raise InvalidRequest(problems)
    return TokenRequest(
        video_id=video_id,
        exp=exp,
        nbf=nbf,
        downloadable=fields.get("downloadable", False),
        access_rules=tuple(
            AccessRule(r["type"], r["action"], tuple(r.get("ip", ())), tuple(r.get("country", ())))
            for r in fields.get("accessRules", ())
        ),
        signing_key=SigningKey(fields["id"].lower(), fields["pem"]) if "id" in fields else None,
        flags=TokenFlags(fields["flags"].get("original")) if "flags" in fields else None,
    )


def _is_ip_or_cidr(value: str) -> bool:
    if "%" in value:  # an IPv6 zone id names a local interface, never a viewer
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_base64_pem_rsa_key(value: str) -> bool:
    """Base64 of a PKCS#1 PEM whose DER is an RSAPrivateKey: a SEQUENCE of 9 INTEGERs, version first.

    (Full parsing of the key is the signer's job; this keeps garbage away from Cloudflare.)
    """
    try:
        text = base64.b64decode(value, validate=True).decode("ascii").strip()
        if not (text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END)):
            return False
        der = base64.b64decode("".join(text[len(_PEM_BEGIN) : -len(_PEM_END)].split()), validate=True)
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        return False
    fields = _der_sequence(der)
    return fields is not None and len(fields) >= 9 and fields[0] in (b"\x00", b"\x01") and len(fields[1]) >= 64


def _der_sequence(der: bytes) -> list[bytes] | None:
    """The INTEGER values of a DER SEQUENCE that spans all of `der`, or None if it is not one."""
    content = _der_element(der, 0, tag=0x30)
    if content is None or content[1] != len(der):
        return None
    integers, position = [], content[0][0]
    while position < content[0][1]:
        element = _der_element(der, position, tag=0x02)
        if element is None:
            return None
        (start, end), position = element
        integers.append(der[start:end])
    return integers


def _der_element(der: bytes, at: int, *, tag: int) -> tuple[tuple[int, int], int] | None:
    """((content start, content end), next position) of the element at `at`, if it has `tag`."""
    if at + 2 > len(der) or der[at] != tag:
        return None
    length, start = der[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or start + size > len(der):
            return None
        length, start = int.from_bytes(der[start : start + size], "big"), start + size
    end = start + length
    return ((start, end), end) if end <= len(der) else None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class _Schema:
    """A compiled schema of the API document, with per-field validators for listing every error.

    Only the whole schema is compiled up front (the one every request runs); the per-field
    validators, which only a failing body needs, are compiled the first time one is needed.
    """

    def __init__(self, document: dict[str, Any], name: str) -> None:
        self.root = {"components": {"schemas": document["components"]["schemas"]}}  # where $refs point
        schema = self._resolve({"$ref": f"#/components/schemas/{name}"})
        self.whole: Validator = self._compile(schema)
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
        return fastjsonschema.compile(schema | self.root)

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
            ErrorDetail(INVALID_VALUE, f"{other} is required when {name} is given", _pointer([other]))
            for name, other in (_KEY_FIELDS, _KEY_FIELDS[::-1])
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
                found.append(ErrorDetail(UNKNOWN_FIELD, f"unknown field {shown!r}", _pointer([name])))
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
            ErrorDetail(INVALID_VALUE, f"{_dotted(path + [name])} is required", _pointer(path + [name]))
            for name in definition["required"]
            if name not in present
        ]
    if exc.rule == "additionalProperties":
        extra = sorted(set(exc.value) - set(definition.get("properties", {})))
        return [
            ErrorDetail(UNKNOWN_FIELD, f"unknown field {_dotted(path + [name])!r}", _pointer(path + [name]))
            for name in extra
        ]
    return [ErrorDetail(INVALID_VALUE, f"{_dotted(path)} {_reason(exc.rule, definition)}", _pointer(path))]


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


def _dotted(path: list[str]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _pointer(path: list[str]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


@cache
def _schema() -> _Schema:
    return _Schema(load_api_document(), "TokenRequest")
