"""The token request schema and the checks a schema cannot express (no I/O)."""

from __future__ import annotations

import base64
import json
from typing import Any

import fastjsonschema
import pytest

from localdev import make_validator
from localdev.standins.apigw import http_api_event
from localdev.standins.examples import VIDEO
from stream_tokens.domain import request_schema, token_request_validator
from stream_tokens.domain.errors import (
    BODY_NOT_JSON,
    BODY_NOT_OBJECT,
    INVALID_IDENTIFIER,
    INVALID_VALUE,
    UNKNOWN_FIELD,
    InvalidRequest,
    PayloadTooLarge,
)
from stream_tokens.domain.model import AccessRule, SigningKey
from stream_tokens.domain.token_requests import UncheckedRequest, checked_request, token_request
from stream_tokens.runtime import http
from stream_tokens.runtime.http import MAX_BODY_BYTES, decode_body
from stream_tokens.runtime.http_routes import HttpRequest
from tests.support.keys import cloudflare_pem, ec_pem, pkcs1_block, sensitive_pem

NOW = 1_800_000_000
KEY_ID = "e9db990a82666dd571c77f944a5c5c8d"


def pem_of(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def mint(fields: dict, *, max_lifetime: int = 86400):
    return token_request(VIDEO, fields, now=NOW, max_lifetime=max_lifetime)


def refused(fields: dict, **options) -> list[tuple[str | None, int, str]]:
    with pytest.raises(InvalidRequest) as caught:
        mint(fields, **options)
    assert caught.value.status == 400
    return [(d.pointer, d.code, d.message) for d in caught.value.details]


def pointers(fields: dict, **options) -> list[str | None]:
    return [pointer for pointer, _, _ in refused(fields, **options)]


def test_empty_body_gives_cloudflares_defaults():
    request = mint({})
    assert (request.exp, request.nbf) == (NOW + 3600, NOW - 3600)
    assert request.downloadable is False
    assert request.access_rules == ()
    assert request.signing_key is None
    assert request.claims() == {"exp": NOW + 3600, "nbf": NOW - 3600}


def test_a_full_request_is_kept_whole():
    pem = cloudflare_pem()
    fields = {
        "exp": NOW + 600,
        "nbf": NOW - 60,
        "downloadable": True,
        "accessRules": [
            {"type": "ip.geoip.country", "action": "block", "country": ["US", "MX"]},
            {"type": "ip.src", "action": "allow", "ip": ["93.184.216.0/24", "2400:cb00::/32", "192.0.2.1"]},
            {"type": "any", "action": "block"},
        ],
        "id": KEY_ID.upper(),
        "pem": pem,
    }
    request = mint(fields)
    assert request.exp == NOW + 600
    assert request.nbf == NOW - 60
    assert request.downloadable
    assert request.access_rules == (
        AccessRule("ip.geoip.country", "block", country=("US", "MX")),
        AccessRule("ip.src", "allow", ip=("93.184.216.0/24", "2400:cb00::/32", "192.0.2.1")),
        AccessRule("any", "block"),
    )
    assert request.signing_key == SigningKey(KEY_ID, pem)
    assert request.claims() == {
        "exp": NOW + 600,
        "nbf": NOW - 60,
        "downloadable": True,
        "accessRules": fields["accessRules"],
    }


def test_exp_given_without_nbf_keeps_the_default_nbf():
    assert mint({"exp": NOW + 60}).nbf == NOW - 3600


@pytest.mark.parametrize(
    ("fields", "pointer", "fragment"),
    [
        ({"exp": "1800000600"}, "/exp", "must be an integer"),
        ({"exp": 1800000600.5}, "/exp", "must be an integer"),
        ({"exp": True}, "/exp", "must be an integer"),
        ({"exp": None}, "/exp", "must be an integer"),
        ({"exp": NOW}, "/exp", "in the future"),
        ({"exp": NOW - 10}, "/exp", "in the future"),
        ({"exp": NOW + 86401}, "/exp", "at most 86400 seconds"),
        ({"exp": 10**40}, "/exp", "at most 86400 seconds"),
        ({"nbf": "0"}, "/nbf", "must be an integer"),
        ({"exp": NOW + 60, "nbf": NOW + 60}, "/nbf", "before exp"),
        ({"nbf": NOW + 7200}, "/nbf", "before exp"),
        ({"downloadable": 1}, "/downloadable", "boolean"),
        ({"downloadable": 0}, "/downloadable", "boolean"),
        ({"downloadable": "true"}, "/downloadable", "boolean"),
        ({"accessRules": {}}, "/accessRules", "must be an array"),
        ({"accessRules": [{"type": "any", "action": "allow"}] * 6}, "/accessRules", "at most 5"),
        ({"accessRules": ["any"]}, "/accessRules/0", "must be an object"),
        ({"accessRules": [{"action": "allow"}]}, "/accessRules/0/type", "is required"),
        ({"accessRules": [{"type": "any"}]}, "/accessRules/0/action", "is required"),
        ({"accessRules": [{"type": "ip", "action": "allow"}]}, "/accessRules/0/type", "one of"),
        ({"accessRules": [{"type": "any", "action": "deny"}]}, "/accessRules/0/action", "one of"),
        ({"accessRules": [{"type": "ip.src", "action": "allow"}]}, "/accessRules/0/ip", "is required"),
        ({"accessRules": [{"type": "ip.src", "action": "allow", "ip": []}]}, "/accessRules/0/ip", "empty"),
        ({"accessRules": [{"type": "ip.src", "action": "allow", "ip": [1]}]}, "/accessRules/0/ip/0", "string"),
        (
            {"accessRules": [{"type": "ip.src", "action": "allow", "ip": ["10.0.0.1", "10.0.0.300"]}]},
            "/accessRules/0/ip/1",
            "IPv4 or IPv6",
        ),
        (
            {"accessRules": [{"type": "ip.src", "action": "allow", "ip": ["2001:db8::/129"]}]},
            "/accessRules/0/ip/0",
            "IPv4 or IPv6",
        ),
        (
            {"accessRules": [{"type": "ip.src", "action": "allow", "ip": ["1.2.3.4"], "country": ["US"]}]},
            "/accessRules/0/country",
            "not allowed",
        ),
        ({"accessRules": [{"type": "ip.geoip.country", "action": "block"}]}, "/accessRules/0/country", "required"),
        (
            {"accessRules": [{"type": "ip.geoip.country", "action": "block", "country": []}]},
            "/accessRules/0/country",
            "empty",
        ),
        (
            {"accessRules": [{"type": "ip.geoip.country", "action": "block", "country": ["US", "us"]}]},
            "/accessRules/0/country/1",
            "ISO 3166-1 alpha-2",
        ),
        (
            {"accessRules": [{"type": "ip.geoip.country", "action": "block", "country": ["ZZ"]}]},
            "/accessRules/0/country/0",
            "ISO 3166-1 alpha-2",
        ),
        (
            {"accessRules": [{"type": "ip.geoip.country", "action": "block", "country": ["FR"], "ip": ["1.1.1.1"]}]},
            "/accessRules/0/ip",
            "not allowed",
        ),
        ({"accessRules": [{"type": "any", "action": "allow", "ip": ["1.1.1.1"]}]}, "/accessRules/0/ip", "not allowed"),
        (
            {"accessRules": [{"type": "any", "action": "allow", "country": ["FR"]}]},
            "/accessRules/0/country",
            "not allowed",
        ),
        ({"id": KEY_ID}, "/pem", "pem is required when id is given"),
        ({"pem": cloudflare_pem()}, "/id", "id is required when pem is given"),
        ({"id": "not-a-key-id", "pem": cloudflare_pem()}, "/id", "32 hexadecimal"),
        ({"id": KEY_ID, "pem": "%%% not base64 %%%"}, "/pem", "PEM RSA private key"),
        ({"id": KEY_ID, "pem": base64.b64encode(b"hello").decode()}, "/pem", "PEM RSA private key"),
        ({"id": KEY_ID, "pem": ec_pem()}, "/pem", "PEM RSA private key"),
        ({"id": KEY_ID, "pem": ""}, "/pem", "must not be empty"),
        ({"id": KEY_ID, "pem": "é"}, "/pem", "PEM RSA private key"),
        (
            {"id": KEY_ID, "pem": pem_of(pkcs1_block("MAAA\n"))},
            "/pem",
            "PEM RSA",
        ),
        ({"id": KEY_ID, "pem": pem_of(pkcs1_block(" " * 6000 + "!", end=False))}, "/pem", "PEM RSA"),
        (
            {"id": KEY_ID, "pem": pem_of(pkcs1_block("MIIB\n"))},
            "/pem",
            "PEM RSA",
        ),
        (
            {"accessRules": [{"type": "ip.src", "action": "allow", "ip": ["fe80::1%eth0"]}]},
            "/accessRules/0/ip/0",
            "IPv4 or IPv6",
        ),
    ],
)
def test_each_schema_rule_names_its_field(fields, pointer, fragment):
    found = refused(fields)
    assert [p for p, _, _ in found] == [pointer], found
    assert fragment in found[0][2]
    assert found[0][1] == INVALID_VALUE


def test_the_operator_ceiling_is_lower_than_cloudflares():
    assert mint({"exp": NOW + 3600}, max_lifetime=3600).exp == NOW + 3600
    assert pointers({"exp": NOW + 3601}, max_lifetime=3600) == ["/exp"]


def test_unknown_fields_are_refused_by_name():
    found = refused({"expires": NOW + 60, "accessRules": [{"type": "any", "action": "allow", "ipv6": ["::1"]}]})
    assert sorted(found) == sorted(
        [
            ("/expires", UNKNOWN_FIELD, "unknown field 'expires'"),
            ("/accessRules/0/ipv6", UNKNOWN_FIELD, "unknown field 'accessRules[0].ipv6'"),
        ]
    )


def test_a_field_name_with_slashes_is_escaped_in_the_pointer():
    assert pointers({"a/b~c": 1}) == ["/a~1b~0c"]


def test_several_errors_are_listed_together():
    found = pointers(
        {
            "exp": NOW - 1,
            "nbf": "soon",
            "downloadable": "yes",
            "colour": "red",
            "accessRules": [
                {"type": "ip.src", "action": "allow", "ip": ["1.1.1.1", "nope"]},
                {"type": "ip.geoip.country", "action": "block"},
            ],
        }
    )
    assert sorted(p or "" for p in found) == sorted(
        ["/exp", "/nbf", "/downloadable", "/colour", "/accessRules/0/ip/1", "/accessRules/1/country"]
    )


def test_a_valid_signing_key_is_accepted():
    pem = sensitive_pem()
    assert mint({"id": KEY_ID, "pem": pem}).signing_key == SigningKey(KEY_ID, pem)


def test_error_messages_never_echo_the_key_material():
    pem = base64.b64encode(pkcs1_block("not really\n").encode()).decode()
    for _, _, message in refused({"id": KEY_ID, "pem": pem}):
        assert pem not in message
        assert "not really" not in message


@pytest.mark.parametrize("value", [VIDEO, VIDEO.upper()])
def test_identifiers_are_32_hex_characters(value):
    request, _ = checked_request(UncheckedRequest(value, {}), now=NOW, max_lifetime=60)
    assert request.video_id == VIDEO


@pytest.mark.parametrize(
    "value",
    [
        "",
        VIDEO[:31],
        VIDEO + "0",
        "../../zones",
        "%2e%2e",
        VIDEO[:30] + "/x",
        VIDEO[:31] + "g",
        " " + VIDEO[:31],
        None,
        5,
    ],
)
def test_anything_else_is_refused_before_it_reaches_a_url(value):
    with pytest.raises(InvalidRequest) as caught:
        checked_request(UncheckedRequest(value, {}), now=NOW, max_lifetime=60)
    assert [(d.pointer, d.code) for d in caught.value.details] == [("/identifier", INVALID_IDENTIFIER)]


@pytest.mark.parametrize("raw", [None, "", "  \n", "{}"])
def test_no_body_is_the_empty_request(raw):
    assert decode_body(raw) == {}


def test_body_decoding_refuses_what_is_not_a_json_object():
    for raw, code in [("{", BODY_NOT_JSON), ("[1]", BODY_NOT_OBJECT), ('"x"', BODY_NOT_OBJECT), ("NaN", BODY_NOT_JSON)]:
        with pytest.raises(InvalidRequest) as caught:
            decode_body(raw)
        assert [(d.code, d.pointer) for d in caught.value.details] == [(code, "")], raw


def test_numbers_too_long_to_parse_and_deep_nesting_are_plain_400s():
    with pytest.raises(InvalidRequest):
        decode_body('{"exp": 1' + "0" * 5000 + "}")
    with pytest.raises(InvalidRequest):
        decode_body("[" * 8000 + "]" * 8000)


def test_a_body_that_is_not_utf8_text_is_refused():
    with pytest.raises(InvalidRequest):
        decode_body(
            '{"exp": "\ud800"}'  # a lone surrogate
        )


def test_identifier_account_and_body_problems_are_listed_together():
    def sent(identifier: object, body: str, account_id: object = None) -> UncheckedRequest:
        event = http_api_event("POST", "/videos/x/token", body)
        event["pathParameters"] = {"identifier": identifier}
        if account_id is not None:
            event["pathParameters"]["account_id"] = account_id
        return http.sent_request(HttpRequest.of(event, None))

    with pytest.raises(InvalidRequest) as caught:
        checked_request(sent("nope", '{"exp": "soon"}', "acme"), now=NOW, max_lifetime=86400)
    assert [d.pointer for d in caught.value.details] == ["/identifier", "/account_id", "/exp"]
    with pytest.raises(InvalidRequest) as caught:
        checked_request(sent("nope", "not json"), now=NOW, max_lifetime=86400)
    assert [d.pointer for d in caught.value.details] == ["/identifier", ""]
    request, account = checked_request(sent(VIDEO.upper(), "", "F" * 32), now=NOW, max_lifetime=60)
    assert (request.video_id, account) == (VIDEO, "f" * 32)


def test_base64_bodies_are_decoded_and_bad_base64_refused():
    assert decode_body(base64.b64encode(b'{"downloadable": true}').decode(), base64_encoded=True) == {
        "downloadable": True
    }
    with pytest.raises(InvalidRequest):
        decode_body("{not base64}", base64_encoded=True)


def test_the_size_limit_is_16_kib():
    fits = json.dumps({"pad": "x" * (MAX_BODY_BYTES - 20)})
    fits += " " * (MAX_BODY_BYTES - len(fits))
    assert len(fits) == MAX_BODY_BYTES
    assert decode_body(fits) == json.loads(fits)
    with pytest.raises(PayloadTooLarge) as caught:
        decode_body(fits + " ")
    assert caught.value.status == 413
    assert "16384" in caught.value.message


def test_a_schema_rule_no_single_field_breaks_still_refuses_the_body():
    """If the document gains a rule across fields (here: minProperties), a body breaking only that
    rule is refused as a whole, never let through for want of a field to blame."""
    from stream_tokens.domain.request_schema import _Schema, load_api_document

    document = load_api_document()
    schemas = document["components"]["schemas"]
    document = {"components": {"schemas": schemas | {"Strict": schemas["TokenRequest"] | {"minProperties": 2}}}}
    strict = _Schema(document, "Strict")
    assert strict.errors({"exp": 1, "nbf": 0}) == []
    (problem,) = strict.errors({"exp": 1})
    assert (problem.code, problem.pointer) == (INVALID_VALUE, "")


def test_every_iso_country_code_is_accepted_norway_too():
    """The country list is strings all through (in YAML's 1.1 form, a bare NO would read as false)."""
    from stream_tokens.domain.request_schema import load_api_document

    codes = load_api_document()["components"]["schemas"]["Country"]["enum"]
    assert len(codes) == 249
    assert all(isinstance(c, str) and len(c) == 2 and c.isupper() for c in codes)
    rules = [{"type": "ip.geoip.country", "action": "block", "country": codes}]
    request = token_request("a" * 32, {"accessRules": rules}, now=1_700_000_000, max_lifetime=86400)
    assert "NO" in request.access_rules[0].country


def test_the_shipped_validator_is_the_documents_schema_compiled():
    """The whole-schema validator ships compiled ahead of time; it must be exactly what
    fastjsonschema makes of openapi.yaml's TokenRequest now (`make validator` rewrites it)."""
    shipped = make_validator.TARGET.read_text()
    assert shipped == make_validator.validator_code(), "openapi.yaml changed: run `make validator`"
    assert request_schema._schema().whole is token_request_validator.validate


@pytest.mark.parametrize(
    "fields",
    [{}, {"exp": 1}, {"exp": "1"}, {"accessRules": [{"type": "any", "action": "allow", "ip": []}]}, {"colour": 1}],
)
def test_the_shipped_validator_judges_as_the_runtime_compiled_one(fields):
    """Same verdict, on the same field. (It is compiled without detailed exceptions: its refusal only
    sends the request to the per-field validators, which word the errors.)"""
    document = request_schema.load_api_document()
    compiled = fastjsonschema.compile(request_schema.whole_schema(document, "TokenRequest"))
    verdicts: list[str | None] = []
    validators: list[Any] = [compiled, token_request_validator.validate]
    for validate in validators:
        try:
            validate(fields)
            verdicts.append(None)
        except fastjsonschema.JsonSchemaValueException as exc:
            verdicts.append(exc.message.split(" must ")[0])  # the field, as in "data.exp must be integer"
    assert verdicts[0] == verdicts[1]


# -- flags: {"original": bool}, as Cloudflare's SDKs send it --------------------------------------


@pytest.mark.parametrize(
    "flags",
    [{"original": True}, {"original": False}, {}],
    ids=["original", "not-original", "empty"],
)
def test_flags_are_kept_exactly_as_sent(flags):
    request = mint({"flags": flags})
    assert request.claims() == {"exp": NOW + 3600, "nbf": NOW - 3600, "flags": flags}


def test_without_flags_the_claims_carry_none():
    assert "flags" not in mint({"downloadable": True}).claims()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"colour": "red"}, [("/flags/colour", UNKNOWN_FIELD, "unknown field 'flags.colour'")]),
        (
            {"original": True, "colour": "red", "size": 1},
            [
                ("/flags/colour", UNKNOWN_FIELD, "unknown field 'flags.colour'"),
                ("/flags/size", UNKNOWN_FIELD, "unknown field 'flags.size'"),
            ],
        ),
        (
            {"original": "true"},
            [("/flags/original", INVALID_VALUE, "flags.original must be a boolean (true or false)")],
        ),
        ({"original": 1}, [("/flags/original", INVALID_VALUE, "flags.original must be a boolean (true or false)")]),
        ({"original": None}, [("/flags/original", INVALID_VALUE, "flags.original must be a boolean (true or false)")]),
        (True, [("/flags", INVALID_VALUE, "flags must be an object")]),
        ([{"original": True}], [("/flags", INVALID_VALUE, "flags must be an object")]),
        (None, [("/flags", INVALID_VALUE, "flags must be an object")]),
        ("original", [("/flags", INVALID_VALUE, "flags must be an object")]),
    ],
    ids=["unknown-key", "unknown-keys", "string", "number", "null", "boolean", "array", "null-flags", "string-flags"],
)
def test_bad_flags_are_refused_naming_the_field(flags, expected):
    assert refused({"flags": flags}) == expected


def test_bad_flags_are_listed_with_the_other_broken_fields():
    assert pointers({"flags": {"colour": 1}, "exp": "soon", "colour": 2}) == ["/flags/colour", "/exp", "/colour"]
