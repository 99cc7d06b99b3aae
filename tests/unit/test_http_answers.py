"""The HTTP answers written around the token's escaped text are, byte for byte, what `json.dumps`
writes of the same envelopes (runtime/http.py, `signed_token_text`)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from localdev.standins.examples import CUSTOMER_CODE, VIDEO
from stream_tokens.domain.errors import ErrorDetail, InvalidRequest, RateLimited, StreamTokenError
from stream_tokens.domain.model import SignedToken, SignedUrls
from stream_tokens.domain.urls import signed_urls
from stream_tokens.runtime import envelope, http

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def library(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def signed(token: str, *, customer: str = CUSTOMER_CODE, downloadable: bool = False) -> SignedToken:
    return SignedToken(token, VIDEO, 1_800_000_000, signed_urls(customer, downloadable))


def test_a_single_tokens_answer_is_what_json_dumps_writes():
    answer = http.token(signed(TOKEN))
    assert answer.body == library(envelope.success(signed(TOKEN).to_json()))
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"


# any text: quotes, backslashes, control characters, non-ASCII, lone surrogates, the empty string
texts = st.text(alphabet=st.characters(codec=None), max_size=60)


@given(token=texts, customer=texts, downloadable=st.booleans(), video=texts, exp=st.integers())
def test_any_signed_token_is_written_as_json_dumps_writes_it(token, customer, downloadable, video, exp):
    value = SignedToken(token, video, exp, signed_urls(customer, downloadable))
    assert http.signed_token_text(value) == library(value.to_json())


@given(token=texts, origin=texts, downloadable=st.booleans())
def test_any_origin_is_written_as_json_dumps_writes_it(token, origin, downloadable):
    value = SignedToken(token, VIDEO, 1, SignedUrls(origin, downloadable))
    assert http.signed_token_text(value) == library(value.to_json())


def test_a_batch_answer_is_what_json_dumps_writes_of_its_envelopes():
    outcomes: list[SignedToken | StreamTokenError] = [
        signed(TOKEN),
        InvalidRequest([ErrorDetail(10012, "exp must be in the future \u00e9\ud800", "/exp")]),
        signed(TOKEN + "x", downloadable=True),
        RateLimited("not sent", retry_after=7),
    ]
    answer = http.batch(outcomes)
    assert answer.body == library(envelope.success(items(outcomes)))
    assert json.loads(answer.body)["result"][1]["errors"][0]["source"]["pointer"] == "/requests/1/exp"
    assert answer.headers["Retry-After"] == "7"
    assert json.loads(answer.body)["result"][2]["result"]["urls"]["mp4"].endswith("/downloads/default.mp4")
    for some in ([], outcomes[:1], outcomes[1:2]):
        assert http.batch(some).body == library(envelope.success(items(some)))


def items(outcomes: list[SignedToken | StreamTokenError]) -> list[dict[str, Any]]:
    return [envelope.outcome(o, at=f"/requests/{i}") for i, o in enumerate(outcomes)]


def test_a_token_with_any_character_is_escaped_as_json_escapes_it():
    """A base64url token goes as it is; any character json escapes (all of them tried) is escaped."""
    token = "eyJ-_.0aZ"
    for code in [*range(0x80), 0xE9, 0x2028, 0xD800, 0x1F600]:
        value = signed(token + chr(code) + token)
        assert http.signed_token_text(value) == library(value.to_json()), hex(code)
