"""Turn what a caller asked for into a `TokenRequest`, or say precisely what is wrong with it.

The request's shape is checked against the API document (`request_schema`); the rules a schema
cannot express (time windows, IP syntax, the shape of a key) follow here, for the fields the schema
had no complaint about. Every problem is reported, each with the pointer of its field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import INVALID_IDENTIFIER, INVALID_VALUE, ErrorDetail, InvalidRequest
from .key_shape import is_base64_pem_rsa_key
from .model import (
    DEFAULT_LIFETIME,
    DEFAULT_NBF_LEAD,
    AccessRule,
    SigningKey,
    TokenFlags,
    TokenRequest,
    is_cloudflare_id,
)
from .request_schema import dotted, schema_errors

ITEM_ADDRESS_FIELDS = ("identifier", "account_id")  # what a batch item or direct request adds to the body
_PEM_SHAPE = (
    "pem must be the base64 of a PEM RSA private key of at most 4,096 bits (PKCS#1, an 'RSA PRIVATE KEY' block), "
    "as Cloudflare's POST /stream/keys returns it"
)


@dataclass(frozen=True)
class UncheckedRequest:
    """A token request as the caller sent it: the identifiers and the body's fields, not yet checked.

    `unreadable` is why the body could not be read (not JSON, not an object); it is reported
    together with whatever is wrong with the identifiers.
    """

    identifier: object
    fields: Mapping[str, Any]
    account_id: object = None
    unreadable: tuple[ErrorDetail, ...] = ()

    @classmethod
    def of_item(cls, item: object) -> UncheckedRequest:
        """One `{"identifier", "account_id"?, <token fields>}` object (a batch item, a direct invocation)."""
        if not isinstance(item, dict):
            raise InvalidRequest([ErrorDetail(INVALID_VALUE, "a token request must be a JSON object", "")])
        fields = {name: value for name, value in item.items() if name not in ITEM_ADDRESS_FIELDS}
        return cls(item.get("identifier"), fields, item.get("account_id"))


type BatchItem = UncheckedRequest | InvalidRequest
"""A batch's item as read: the request, or why it is not one (an item that is not an object)."""


def batch_requests(value: object, *, at: str, max_items: int) -> list[BatchItem]:
    """The requests of a batch: an array of 1 to `max_items` objects; `at` is the array's pointer
    in what the caller sent (for the error about the array itself)."""
    if not isinstance(value, list):
        problem = "must be an array of token requests"
    elif not value:
        problem = "must not be empty"
    elif len(value) > max_items:
        problem = f"must have at most {max_items} items (it has {len(value)})"
    else:
        return [_read_item(item) for item in value]
    raise InvalidRequest([ErrorDetail(INVALID_VALUE, f"{dotted(_path(at)) or 'the list of requests'} {problem}", at)])


def _read_item(item: object) -> BatchItem:
    try:
        return UncheckedRequest.of_item(item)
    except InvalidRequest as exc:
        return exc


def checked_request(
    sent: UncheckedRequest, *, now: int, max_lifetime: int, default_lifetime: int = DEFAULT_LIFETIME
) -> tuple[TokenRequest, str | None]:
    """The request, and the (normalised) account id the caller named, if any; or InvalidRequest
    listing every problem of the identifiers and the body together. An exp not given is now +
    `default_lifetime`; one given is at most `max_lifetime` seconds ahead."""
    problems: list[ErrorDetail] = []
    video = _identifier("identifier", sent.identifier, problems)
    account = None if sent.account_id is None else _identifier("account_id", sent.account_id, problems)
    problems += sent.unreadable
    request = None
    if not sent.unreadable:
        try:
            request = token_request(
                video or "", sent.fields, now=now, max_lifetime=max_lifetime, default_lifetime=default_lifetime
            )
        except InvalidRequest as exc:
            problems += exc.details
    if problems or request is None:
        raise InvalidRequest(problems)
    return request, account


def _identifier(name: str, value: object, problems: list[ErrorDetail]) -> str | None:
    """A video or account id (32 hex characters, checked before it goes near a URL), lowercased;
    None, with the problem noted, when it is not one."""
    if is_cloudflare_id(value):
        return value.lower()
    problems.append(ErrorDetail(INVALID_IDENTIFIER, f"{name} must be 32 hexadecimal characters", f"/{name}"))
    return None


def token_request(
    video_id: str, fields: Mapping[str, Any], *, now: int, max_lifetime: int, default_lifetime: int = DEFAULT_LIFETIME
) -> TokenRequest:
    """Validate `fields` (a token request body) for `video_id`, resolving Cloudflare's defaults.

    Raises InvalidRequest listing every broken field: the schema's findings first, then the checks
    a schema cannot express, for the fields the schema had no complaint about.
    """
    problems = schema_errors(fields)
    sound = _SoundFields(problems)
    exp = int(fields["exp"]) if sound.given(fields, "/exp") else now + default_lifetime
    nbf = int(fields["nbf"]) if sound.given(fields, "/nbf") else now - DEFAULT_NBF_LEAD
    problems += _time_window_problems(fields, sound, exp, nbf, now=now, max_lifetime=max_lifetime)
    problems += _access_rule_problems(fields, sound)
    if sound.given(fields, "/pem") and not is_base64_pem_rsa_key(fields["pem"]):
        problems.append(ErrorDetail(INVALID_VALUE, _PEM_SHAPE, "/pem"))
    if problems:
        raise InvalidRequest(problems)
    return TokenRequest(
        video_id=video_id,
        exp=exp,
        nbf=nbf,
        downloadable=fields.get("downloadable", False),
        access_rules=_access_rules(fields["accessRules"]) if "accessRules" in fields else (),
        signing_key=SigningKey(fields["id"].lower(), fields["pem"]) if "id" in fields else None,
        flags=TokenFlags(fields["flags"].get("original")) if "flags" in fields else None,
    )


def _access_rules(rules: list[dict[str, Any]]) -> tuple[AccessRule, ...]:
    return tuple(AccessRule(r["type"], r["action"], tuple(r.get("ip", ())), tuple(r.get("country", ()))) for r in rules)


class _SoundFields:
    """Which fields the schema had no complaint about (the code's checks look only at those)."""

    def __init__(self, problems: list[ErrorDetail]) -> None:
        self.broken = {detail.pointer or "" for detail in problems}

    def sound(self, pointer: str) -> bool:
        if not self.broken:  # the usual case, on every field of every request: no generator
            return True
        return not any(b == pointer or b.startswith(pointer + "/") for b in self.broken)

    def given(self, fields: Mapping[str, Any], pointer: str) -> bool:
        """The top-level field at `pointer` is present and passed the schema."""
        return pointer[1:] in fields and self.sound(pointer)


def _time_window_problems(
    fields: Mapping[str, Any], sound: _SoundFields, exp: int, nbf: int, *, now: int, max_lifetime: int
) -> list[ErrorDetail]:
    problems = []
    if sound.given(fields, "/exp"):
        if exp <= now:
            problems.append(ErrorDetail(INVALID_VALUE, "exp must be in the future", "/exp"))
        elif exp > now + max_lifetime:
            problems.append(ErrorDetail(INVALID_VALUE, f"exp must be at most {max_lifetime} seconds from now", "/exp"))
    if sound.given(fields, "/nbf") and nbf >= exp:
        problems.append(ErrorDetail(INVALID_VALUE, "nbf must be before exp", "/nbf"))
    return problems


def _access_rule_problems(fields: Mapping[str, Any], sound: _SoundFields) -> list[ErrorDetail]:
    """IP addresses and CIDRs of the rules the schema passed (each rule was then checked alone)."""
    rules = fields.get("accessRules")
    if not isinstance(rules, list) or "/accessRules" in sound.broken:
        return []
    return [
        ErrorDetail(
            INVALID_VALUE,
            f"accessRules[{i}].ip[{j}] must be an IPv4 or IPv6 address or CIDR",
            f"/accessRules/{i}/ip/{j}",
        )
        for i, rule in enumerate(rules)
        if sound.sound(f"/accessRules/{i}")
        for j, address in enumerate(rule.get("ip", ()))
        if not _is_ip_or_cidr(address)
    ]


def _is_ip_or_cidr(value: str) -> bool:
    if "%" in value:  # an IPv6 zone id names a local interface, never a viewer
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _path(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
