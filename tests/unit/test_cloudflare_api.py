"""Cloudflare's answers, mapped to error types (HTTP faked with `responses`; retries are
exercised against the loopback double in tests/integration)."""

from __future__ import annotations

import time

import pytest
import requests
import responses
from urllib3.util.retry import RequestHistory, Retry

from localdev.standins.examples import ACCOUNT, VIDEO
from stream_tokens.adapters.cloudflare_answers import retry_after_seconds
from stream_tokens.adapters.cloudflare_api import BACKOFF_FACTOR, BACKOFF_MAX, CloudflareStreamApi, backoff_seconds
from stream_tokens.domain.call_limits import CallLimits
from stream_tokens.domain.errors import (
    ErrorDetail,
    RateLimited,
    UpstreamAuthRejected,
    UpstreamRejectedRequest,
    UpstreamTimeout,
    UpstreamUnavailable,
    VideoNotFound,
)

BASE = "https://api.cloudflare.test/client/v4"
URL = f"{BASE}/accounts/{ACCOUNT}/stream/{VIDEO}/token"
AUTH = {"Authorization": "Bearer test-token"}


def failure(code: int, message: str) -> dict:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def create(body: dict | None = None, deadline: float | None = None) -> str:
    api = CloudflareStreamApi(BASE, connect_timeout=1, read_timeout=1, max_retries=0)
    return api.create_token(ACCOUNT, VIDEO, body or {"exp": 1}, AUTH, CallLimits(deadline or time.monotonic() + 5))


@responses.activate
def test_a_token_comes_back_and_the_request_is_what_cloudflare_expects():
    responses.post(URL, json={"success": True, "errors": [], "messages": [], "result": {"token": "eyJ.x.y"}})
    assert create({"exp": 1800000000, "nbf": 1799990000}) == "eyJ.x.y"
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer test-token"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == b'{"exp": 1800000000, "nbf": 1799990000}'


@pytest.mark.parametrize(
    ("status", "body", "error", "details"),
    [
        (404, failure(10003, "Not Found"), VideoNotFound, [ErrorDetail(10003, "Not Found")]),
        (400, failure(10005, "bad exp"), UpstreamRejectedRequest, [ErrorDetail(10005, "bad exp")]),
        (422, failure(10010, "unprocessable"), UpstreamRejectedRequest, [ErrorDetail(10010, "unprocessable")]),
        (429, failure(971, "Please wait"), RateLimited, [ErrorDetail(971, "Please wait")]),
        (408, failure(10000, "timeout"), UpstreamTimeout, None),
        (500, failure(10002, "boom"), UpstreamUnavailable, None),
        (503, "<html>Service Unavailable</html>", UpstreamUnavailable, None),
        (200, "<html>not json</html>", UpstreamUnavailable, None),
        (200, failure(10000, "odd"), UpstreamUnavailable, None),
        (200, {"success": True, "errors": [], "messages": [], "result": {}}, UpstreamUnavailable, None),
        (200, {"success": True, "errors": [], "messages": [], "result": {"token": ""}}, UpstreamUnavailable, None),
    ],
)
@responses.activate
def test_each_answer_maps_to_one_error_type(status, body, error, details):
    if isinstance(body, str):
        responses.post(URL, body=body, status=status, content_type="text/html")
    else:
        responses.post(URL, json=body, status=status)
    with pytest.raises(error) as caught:
        create()
    if details is not None:
        assert caught.value.details == details


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_refused_credentials_are_signalled_for_a_secret_reread(status):
    responses.post(URL, json=failure(10000, "Authentication error"), status=status)
    with pytest.raises(UpstreamAuthRejected):
        create()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7), ("0", 0), ("2.5", 300), (None, 300), ("soon", 300), ("9" * 5000, 300), ("-5", 300)],
)
@responses.activate
def test_retry_after_is_passed_on_or_cloudflares_5_minute_block_assumed(header, seconds):
    responses.post(
        URL,
        json=failure(10100, "More than 1200 requests per 300 seconds reached"),
        status=429,
        headers={"Retry-After": header} if header is not None else {},
    )
    with pytest.raises(RateLimited) as caught:
        create()
    assert caught.value.retry_after == seconds


@responses.activate
def test_connection_failures_and_timeouts():
    responses.post(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):
        create()
    responses.replace(responses.POST, URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout):
        create()


@responses.activate
def test_no_call_is_made_once_the_deadline_has_passed():
    with pytest.raises(UpstreamTimeout):
        create(deadline=time.monotonic() - 1)
    assert len(responses.calls) == 0


@responses.activate
def test_cloudflare_error_messages_are_capped_and_malformed_items_dropped():
    body = {"success": False, "errors": [{"code": 10005, "message": "x" * 5000}, {"oops": 1}], "messages": []}
    responses.post(URL, json=body, status=400)
    with pytest.raises(UpstreamRejectedRequest) as caught:
        create()
    assert [len(d.message) for d in caught.value.details] == [500]


def test_retry_after_reads_seconds_and_http_dates_and_shrugs_off_garbage():
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    in_an_hour = retry_after_seconds(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600)))
    assert in_an_hour is not None
    assert 3500 < in_an_hour <= 3600
    for junk in (None, "", "soon", "1" * 5000, "Wed, 99 Foo 2015"):
        assert retry_after_seconds(junk) is None


def test_the_backoff_between_retries_is_urllib3s():
    for failures in range(1, 9):
        history = (RequestHistory("POST", URL, None, 503, None),) * failures
        urllib3s = Retry(backoff_factor=BACKOFF_FACTOR, backoff_max=BACKOFF_MAX, history=history).get_backoff_time()
        assert backoff_seconds(failures) == urllib3s
    assert [backoff_seconds(n) for n in range(1, 7)] == [0, 1, 2, 4, 8, 8]


@pytest.mark.parametrize("body", [[1, 2], "x", 42, None])
@responses.activate
def test_a_200_whose_json_is_not_an_object_is_upstream_unavailable(body):
    responses.post(URL, json=body)
    with pytest.raises(UpstreamUnavailable):
        create()


KEYS = f"{BASE}/accounts/{ACCOUNT}/stream/keys"
KEY_ID = "5213cfa121f70b8c1380686ffc371ba3"


def keys_api() -> CloudflareStreamApi:
    return CloudflareStreamApi(BASE, connect_timeout=1, read_timeout=1, max_retries=0)


@responses.activate
def test_signing_keys_are_created_listed_and_deleted_with_the_envelope_read():
    ok = {"success": True, "errors": [], "messages": []}
    responses.post(KEYS, json=ok | {"result": {"id": KEY_ID, "pem": "cGVt", "jwk": "andr", "created": "2026-11-23"}})
    responses.get(KEYS, json=ok | {"result": [{"id": KEY_ID.upper(), "created": "2026-11-23"}, {"created": "x"}]})
    responses.delete(f"{KEYS}/{KEY_ID}", json=ok | {"result": "ok"})
    deadline = time.monotonic() + 5
    key = keys_api().create_signing_key(ACCOUNT, AUTH, deadline)
    assert (key.id, key.pem, key.jwk) == (KEY_ID, "cGVt", "andr")
    assert "cGVt" not in repr(key)
    assert keys_api().list_signing_keys(ACCOUNT, AUTH, deadline) == {KEY_ID}
    assert keys_api().delete_signing_key(ACCOUNT, KEY_ID, AUTH, deadline) is True
    assert [(c.request.method, c.request.body) for c in responses.calls] == [
        ("POST", b"{}"),
        ("GET", None),
        ("DELETE", b"{}"),
    ]


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ({"id": KEY_ID, "pem": "cGVt"}, UpstreamUnavailable),
        ({"id": "../x", "pem": "a", "jwk": "b"}, UpstreamUnavailable),
    ],
)
@responses.activate
def test_a_created_key_without_id_pem_and_jwk_is_upstream_unavailable(result, error):
    responses.post(KEYS, json={"success": True, "errors": [], "messages": [], "result": result})
    with pytest.raises(error):
        keys_api().create_signing_key(ACCOUNT, AUTH, time.monotonic() + 5)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(404, False), (403, UpstreamAuthRejected), (500, UpstreamUnavailable), (429, RateLimited)],
)
@responses.activate
def test_a_deletion_answer_is_deleted_already_gone_or_an_error_type(status, outcome):
    responses.delete(f"{KEYS}/{KEY_ID}", json=failure(10003, "Not Found"), status=status)
    if outcome is False:
        assert keys_api().delete_signing_key(ACCOUNT, KEY_ID, AUTH, time.monotonic() + 5) is False
    else:
        with pytest.raises(outcome):
            keys_api().delete_signing_key(ACCOUNT, KEY_ID, AUTH, time.monotonic() + 5)
