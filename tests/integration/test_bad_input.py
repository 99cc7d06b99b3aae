"""Whatever the function is sent, it answers sensibly: property-based events for every entry point,
and a path-injection battery. Nothing reaches Cloudflare unless the request was valid, and what
does is only ever `POST /accounts/<configured account>/stream/<32 hex>/token`."""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localdev.standins import template
from localdev.standins.apigw import LambdaContext, http_api_event
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.local_api import LocalHttpApi
from stream_tokens.domain.errors import StreamTokenError
from tests.support.log_hygiene import sensitive

EXAMPLES = 5000
ONLY_REQUEST_CLOUDFLARE_SEES = re.compile(rf"/client/v4/accounts/{ACCOUNT}/stream/[0-9a-f]{{32}}/token")
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = int(time.time())

hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
odd_ids = st.one_of(
    hex32,
    hex32.map(str.upper),
    st.text(max_size=40),
    st.sampled_from(
        ["..", "../..", "%2e%2e", "..%2F..%2Fzones", "a?b", "a#b", " ", "\t", "%00", "x" * 300, VIDEO[:31]]
    ),
    st.builds(lambda a, b: a + b, hex32, st.sampled_from(["/", "?", "#", " ", "%2F", "\n", "0"])),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
rules = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["any", "ip.src", "ip.geoip.country", "ip", 1]),
        "action": st.sampled_from(["allow", "block", "deny", None]),
        "ip": st.lists(
            st.sampled_from(["192.0.2.0/24", "2001:db8::/32", "10.0.0.300", "fe80::1%eth0", "", 7]), max_size=3
        ),
        "country": st.lists(st.sampled_from(["US", "MX", "us", "ZZ", "", 1]), max_size=3),
    },
)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "exp": st.one_of(
            st.integers(NOW - 100, NOW + 90000),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=5),
            st.booleans(),
        ),
        "nbf": st.one_of(st.integers(NOW - 7200, NOW + 7200), json_values),
        "downloadable": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None])),
        "accessRules": st.one_of(st.lists(rules, max_size=6), json_values),
        "id": st.one_of(hex32, st.text(max_size=40)),
        "pem": st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode())),
    },
) | st.dictionaries(st.text(max_size=10), json_values, max_size=5)


def body_text(fields: Any) -> str:
    return json.dumps(fields)


http_bodies = st.one_of(
    st.none(),
    token_fields.map(body_text),
    json_values.map(body_text),
    st.text(max_size=200),
    st.builds(lambda n: '{"pad": "' + "x" * n + '"}', st.integers(16000, 17000)),
    st.integers(1, 8000).map(lambda n: "[" * n + "]" * n),  # deep nesting
    st.integers(1, 3000).map(lambda n: '{"exp":' * n + "1" + "}" * n),
)


@st.composite
def http_events(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["account", "video", "batch", "other"]))
    if shape == "account":
        account = draw(st.one_of(st.just(ACCOUNT), st.just(ACCOUNT.upper()), odd_ids))
        path = f"/accounts/{account}/stream/{draw(odd_ids)}/token"
    elif shape == "video":
        path = f"/videos/{draw(odd_ids)}/token"
    elif shape == "batch":
        path = "/videos/tokens"
    else:
        path = draw(st.sampled_from(["/", "/videos", "/accounts", "/videos//token"])) + draw(st.text(max_size=10))
    if shape == "batch":
        items = st.lists(st.one_of(token_fields.map(lambda f: {"identifier": VIDEO} | f), json_values), max_size=5)
        body: str | None = draw(st.one_of(items.map(lambda r: json.dumps({"requests": r})), http_bodies))
    else:
        body = draw(http_bodies)
    encoded = draw(st.booleans()) and body is not None
    raw: Any = body
    if encoded and body is not None:
        raw = draw(st.one_of(st.just(body.encode()), st.binary(max_size=50)))
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]))
    routes = [(r, r.match(method, path)) for r in template.routes()]
    matched = [(r, params) for r, params in routes if params is not None]
    options: dict[str, Any] = {"base64_body": encoded}
    if matched:
        options |= {"route_key": matched[0][0].key, "path_parameters": matched[0][1]}
    return http_api_event(method, path, raw, **options)


def assert_only_valid_requests_reached_cloudflare(double: Any) -> None:
    for recorded in double.requests:
        assert recorded.method == "POST", recorded.path
        assert ONLY_REQUEST_CLOUDFLARE_SEES.fullmatch(recorded.path), recorded.path


def test_any_http_event_gets_an_envelope_and_never_a_5xx(app, double):
    seen: Counter[int] = Counter()

    @PROPERTY_SETTINGS
    @given(event=http_events())
    def check(event: dict[str, Any]) -> None:
        before = len(double.requests)
        result = app.module.lambda_handler(event, LambdaContext())
        status = result["statusCode"]
        seen[status] += 1
        body = json.loads(result["body"])
        assert set(body) == {"success", "errors", "messages", "result"}
        assert status < 500, body
        assert body["success"] is (status == 200)
        for error in body["errors"]:
            assert isinstance(error["code"], int)
            assert error["code"] >= 1000
            assert error["message"]
        sent = len(double.requests) - before
        if status != 200:
            assert sent == 0
        elif isinstance(body["result"], list):  # a batch: one call per item that got a token
            assert sent == sum(item["success"] for item in body["result"])
            for item in body["result"]:
                if item["success"]:
                    sensitive(item["result"]["token"])
        else:
            assert sent == 1
            sensitive(body["result"]["token"])
        assert_only_valid_requests_reached_cloudflare(double)

    check()
    print("HTTP statuses over", sum(seen.values()), "events:", dict(seen))
    assert sum(seen.values()) >= EXAMPLES
    assert seen[200] >= EXAMPLES // 50, seen
    assert seen[400] >= EXAMPLES // 5, seen
    assert seen[404] > 0, seen
    assert seen[413] > 0, seen


def nested(depth: int) -> Any:
    value: Any = {"identifier": VIDEO}
    for level in range(depth):
        value = [value] if level % 2 else {"detail": value, "detail-type": "x", "source": "y"}
    return value


direct_payloads = st.one_of(
    json_values,
    st.integers(1, 500).map(nested),  # deep nesting
    token_fields.map(lambda f: {"identifier": VIDEO} | f),
    st.builds(lambda i, f: {"identifier": i} | f, odd_ids, token_fields),
    st.lists(st.one_of(token_fields.map(lambda f: {"identifier": VIDEO} | f), json_values), max_size=4),
    st.builds(
        lambda d: {"version": "0", "detail-type": "Stream Token Requested", "source": "s", "detail": d}, json_values
    ),
    st.builds(lambda items: {"Items": items, "BatchInput": {"account_id": ACCOUNT}}, st.lists(json_values, max_size=3)),
    st.lists(
        st.builds(
            lambda b: {"eventSource": "aws:sqs", "body": b},
            st.one_of(st.text(max_size=20), token_fields.map(lambda f: json.dumps({"identifier": VIDEO} | f))),
        ),
        max_size=3,
    ),
)


def test_any_direct_payload_gets_a_result_or_a_named_4xx_error(direct, double):
    seen: Counter[str] = Counter()

    @PROPERTY_SETTINGS
    @given(payload=direct_payloads)
    def check(payload: Any) -> None:
        before = len(double.requests)
        try:
            result = direct(payload)  # its tokens are marked sensitive
        except StreamTokenError as exc:
            seen[type(exc).__name__] += 1
            assert exc.status < 500, (type(exc).__name__, exc.message)  # noqa: PT017 - either outcome is valid here
            assert len(double.requests) == before
            return
        if isinstance(result, list):
            seen["list"] += 1
            for item in result:
                assert set(item) >= {"success", "errors", "messages", "result"}
                if not item["success"]:
                    assert item["status"] < 500, item
            assert len(double.requests) - before == sum(item["success"] for item in result)
        else:
            seen["token"] += 1
            assert set(result) == {"token", "video_id", "expires_at", "urls"}
            assert len(double.requests) - before == 1
        assert_only_valid_requests_reached_cloudflare(double)

    check()
    assert sum(seen.values()) >= EXAMPLES
    assert seen["token"] >= EXAMPLES // 200, seen
    assert seen["list"] >= EXAMPLES // 20, seen
    assert seen["InvalidRequest"] >= EXAMPLES // 5, seen


INJECTIONS = [
    "../../zones",
    "..%2F..%2Fzones",
    "%2e%2e",
    "%2E%2E%2F%2E%2E",
    f"{VIDEO}/../../zones",
    f"{VIDEO}%2F..%2F..",
    f"{VIDEO}?x=1",
    f"{VIDEO}#frag",
    f"{VIDEO}%3F",
    f"{VIDEO}%23",
    f" {VIDEO}",
    f"{VIDEO} ",
    f"{VIDEO}%20",
    f"{VIDEO}\t",
    f"{VIDEO}0",
    VIDEO[:31],
    VIDEO * 2,
    "g" * 32,
    "x" * 1000,
    "%00" * 11,
    f"{VIDEO[:31]}\u0430",
]


@pytest.mark.parametrize("injected", INJECTIONS)
@pytest.mark.parametrize("position", ["account", "video-in-account-route", "video"])
def test_path_injection_never_reaches_another_cloudflare_url(app, double, injected, position):
    path = {
        "account": f"/accounts/{injected}/stream/{VIDEO}/token",
        "video-in-account-route": f"/accounts/{ACCOUNT}/stream/{injected}/token",
        "video": f"/videos/{injected}/token",
    }[position]
    for route in template.routes():
        params = route.match("POST", path)
        if params is not None:
            answer = app.post(path, "{}")
            break
    else:
        answer = app.invoke(http_api_event("POST", path, "{}"))
    assert answer.status in (400, 403, 404), answer.body
    assert double.requests == []
    answer = app.post(
        "/videos/tokens", {"requests": [{"identifier": injected}, {"identifier": VIDEO, "account_id": injected}]}
    )
    assert [item["success"] for item in answer.body["result"]] == [False, False]
    assert double.requests == []


def test_path_injection_over_real_http(app, double, monkeypatch):
    """Through the local API on loopback, so that HTTP parsing and routing are those of a server."""
    monkeypatch.setenv("AUTH_MODE", "NONE")  # as make run: no authorizer in front
    api = LocalHttpApi(app.module.lambda_handler, template.routes(), port=0).start()
    try:
        host, port = api.url.removeprefix("http://").split(":")
        for injected in [i for i in INJECTIONS if i.isascii() and not any(c in i for c in " \t")]:
            for path in (f"/videos/{injected}/token", f"/accounts/{injected}/stream/{injected}/token"):
                connection = http.client.HTTPConnection(host, int(port), timeout=10)
                connection.request("POST", path, body=b"{}")
                status = connection.getresponse().status
                connection.close()
                assert status in (400, 403, 404), (path, status)
        assert double.requests == []
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", f"/videos/{VIDEO}/token", body=b"{}")
        answer = json.loads(connection.getresponse().read())
        connection.close()
        sensitive(answer["result"]["token"])
        assert [r.path for r in double.requests] == [f"/client/v4/accounts/{ACCOUNT}/stream/{VIDEO}/token"]
    finally:
        api.stop()
