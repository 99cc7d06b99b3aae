"""Minting from other AWS services (the direct function) and in batches (POST /videos/tokens),
with the real event shapes in events/ and partial failures."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from localdev.standins import stack
from localdev.standins.apigw import http_api_event
from localdev.standins.cloudflare_double import Fault
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.signing_keys import secret_fields
from stream_tokens.domain import errors
from tests.support.function import emf_records
from tests.support.keys import sensitive_key
from tests.support.log_hygiene import sensitive

pytestmark = pytest.mark.usefixtures("open_policy")  # what minting does, not who may

EVENTS = Path(__file__).resolve().parents[2] / "events"
INVOCATION = Path(__file__).resolve().parents[2] / "layers/stream_tokens/stream_tokens/runtime/invocation.py"
OTHER = "5d5bc37ffcf54c9b82e996823bffbb81"


def event(name: str):
    return json.loads((EVENTS / f"{name}.json").read_text())


def use_key(monkeypatch, moto_endpoint, double) -> dict:
    key = sensitive_key()
    arn = stack.create_secret(
        moto_endpoint,
        f"key-{uuid.uuid4().hex}",
        {"account_id": ACCOUNT, "api_token": double.api_token} | secret_fields(key),
    )
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    return key


# -- direct invocation -------------------------------------------------------------------------


def test_one_object_returns_the_result_object(direct, double):
    result = direct(event("direct.single"))
    assert set(result) == {"token", "video_id", "expires_at", "urls"}
    assert result["video_id"] == VIDEO
    assert "mp4" not in result["urls"]  # not downloadable
    assert double.token_requests()[0].body["accessRules"] == event("direct.single")["accessRules"]


def test_a_step_functions_input_may_name_the_account(direct, double):
    assert direct(event("direct.step-functions-input"))["video_id"] == VIDEO
    with pytest.raises(errors.AccountMismatch):
        direct({"identifier": VIDEO, "account_id": "f" * 32})


def test_a_bad_request_raises_invalid_request_naming_the_fields(direct, double):
    with pytest.raises(errors.InvalidRequest) as caught:
        direct(event("direct.single-invalid"))
    assert type(caught.value).__name__ == "InvalidRequest"  # the errorType Step Functions matches
    assert [d.pointer for d in caught.value.details] == ["/identifier", "/colour", "/exp"]
    assert "(at /exp)" in str(caught.value)
    assert double.requests == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(429, None, {"Retry-After": "300"}), errors.RateLimited),
        (Fault(500), errors.UpstreamUnavailable),
        (Fault(404), errors.VideoNotFound),
    ],
)
def test_failures_raise_named_errors(direct, double, fault, error):
    double.fail_next(*[fault] * 3)
    with pytest.raises(error):
        direct({"identifier": VIDEO})


@pytest.mark.parametrize("payload", ["just text", 42, None, {"identifier": VIDEO, "exp": "soon"}])
def test_anything_that_is_not_a_request_is_an_invalid_request(direct, double, payload):
    with pytest.raises(errors.InvalidRequest):
        direct(payload)


def test_a_configuration_problem_raises_configuration_error(direct, double, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    with pytest.raises(errors.ConfigurationError):
        direct({"identifier": VIDEO})


def test_an_unexpected_failure_raises_internal_error(direct, double, monkeypatch):
    from stream_tokens.runtime import bootstrap

    monkeypatch.setattr(bootstrap.token_service().api, "issue", lambda *a, **k: 1 / 0)
    with pytest.raises(errors.InternalError):
        direct({"identifier": VIDEO})


def test_a_list_gives_a_list_in_order_and_a_bad_item_fails_alone(direct, double):
    results = direct(event("direct.list"))
    assert [r["success"] for r in results] == [True, False, True]
    assert [r["result"]["video_id"] for r in (results[0], results[2])] == [VIDEO, OTHER]
    assert results[1]["status"] == 400
    assert results[1]["error_type"] == "InvalidRequest"
    assert [e["source"]["pointer"] for e in results[1]["errors"]] == ["/1/downloadable"]
    assert results[1]["result"] is None
    assert len(double.token_requests()) == 2


def test_an_eventbridge_event_is_read_from_its_detail(direct, double):
    result = direct(event("direct.eventbridge"))
    assert result["video_id"] == VIDEO
    assert double.token_requests()[0].body["accessRules"] == event("direct.eventbridge")["detail"]["accessRules"]


def test_a_pipes_batch_of_sqs_records_reads_each_body(direct, double):
    results = direct(event("direct.pipes-sqs-batch"))
    assert [r["success"] for r in results] == [True, False, True]
    assert [e["source"]["pointer"] for e in results[1]["errors"]] == ["/1"]
    assert [r["result"]["video_id"] for r in (results[0], results[2])] == [VIDEO, OTHER]


def test_a_list_over_the_limit_or_empty_is_refused_whole(direct, double, monkeypatch):
    monkeypatch.setenv("BATCH_MAX_ITEMS", "3")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    with pytest.raises(errors.InvalidRequest, match="at most 3 items"):
        direct([{"identifier": VIDEO}] * 4)
    with pytest.raises(errors.InvalidRequest, match="must not be empty"):
        direct([])
    assert double.requests == []


def test_lists_are_signed_locally_too(direct, double, moto_endpoint, monkeypatch):
    key = use_key(monkeypatch, moto_endpoint, double)
    results = direct([{"identifier": VIDEO}, {"identifier": OTHER, "downloadable": True}])
    assert all(r["success"] for r in results)
    import jwt

    assert {jwt.get_unverified_header(r["result"]["token"])["kid"] for r in results} == {key["id"]}
    assert double.requests == []


# -- the HTTP batch route ----------------------------------------------------------------------


def test_the_batch_route_answers_per_item_in_order(app, double):
    answer = app.invoke(event("videos-tokens.batch"))
    assert answer.status == 200
    assert answer.body["success"] is True
    items = answer.body["result"]
    assert [i["success"] for i in items] == [True, False, True]
    assert sorted(e["source"]["pointer"] for e in items[1]["errors"]) == ["/requests/1/exp", "/requests/1/identifier"]
    for item in (items[0], items[2]):
        sensitive(item["result"]["token"])
        assert set(item) == {"success", "errors", "messages", "result"}
    assert len(double.token_requests()) == 2


def test_flags_work_in_a_batch_item_and_a_direct_invocation(app, direct, double):
    answer = app.post(
        "/videos/tokens",
        {"requests": [{"identifier": VIDEO, "flags": {"original": True}}, {"identifier": OTHER, "flags": {"x": 1}}]},
    )
    assert answer.status == 200
    first, second = answer.body["result"]
    assert first["success"] is True
    assert sensitive(first["result"]["token"])
    assert [e["source"]["pointer"] for e in second["errors"]] == ["/requests/1/flags/x"]
    assert direct({"identifier": OTHER, "flags": {"original": False}})["video_id"] == OTHER
    assert [r.body["flags"] for r in double.token_requests()] == [{"original": True}, {"original": False}]
    with pytest.raises(errors.InvalidRequest) as caught:
        direct({"identifier": VIDEO, "flags": {"original": "yes"}})
    assert [d.pointer for d in caught.value.details] == ["/flags/original"]


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({}, ["/requests"]),
        ({"requests": {}}, ["/requests"]),
        ({"requests": []}, ["/requests"]),
        ({"requests": [{"identifier": VIDEO}], "extra": 1}, ["/extra"]),
        ([], [""]),
    ],
)
def test_a_malformed_batch_is_a_400(app, double, body, pointers):
    answer = app.post("/videos/tokens", body)
    assert answer.status == 400
    assert answer.error_pointers == pointers
    assert double.requests == []


def test_the_batch_size_limit_is_configurable(app, double, monkeypatch):
    monkeypatch.setenv("BATCH_MAX_ITEMS", "2")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 3})
    assert answer.status == 400
    assert "at most 2 items" in answer.body["errors"][0]["message"]


TOKEN_ANSWER = {"success": True, "errors": [], "messages": [], "result": {"token": "eyJ.a.b"}}


def test_a_hundred_items_in_api_mode(app, double):
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 100})
    assert answer.status == 200
    assert all(item["success"] for item in answer.body["result"])
    for item in answer.body["result"]:
        sensitive(item["result"]["token"])
    assert len(double.token_requests()) == 100


def test_api_items_go_out_upstream_concurrency_at_a_time(app, double):
    double.fail_next(*[Fault(200, TOKEN_ANSWER, delay=0.3)] * 12)
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 12})
    assert all(item["success"] for item in answer.body["result"])
    assert double.max_in_flight == 4  # UPSTREAM_CONCURRENCY's default
    assert double.connections == 4  # one kept-alive connection per worker


def test_the_connection_pool_holds_every_concurrent_connection(app, double, monkeypatch):
    monkeypatch.setenv("UPSTREAM_CONCURRENCY", "16")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    for _ in range(3):  # each answer held long enough for all 16 to be in flight, even on a busy machine
        double.fail_next(*[Fault(200, TOKEN_ANSWER, delay=0.25)] * 48)
        assert app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 48}).status == 200
    assert double.max_in_flight == 16
    assert double.connections <= 16  # reused across batches, none discarded


@pytest.mark.parametrize("retry_after", [None, "300"])
def test_a_429_stops_the_batch_at_once_even_with_retries_on(app, double, retry_after):
    limited = Fault(429, None, {"Retry-After": retry_after} if retry_after else {})
    double.fail_next(Fault(200, TOKEN_ANSWER), *[limited] * 60)
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}] * 40})
    items = answer.body["result"]
    assert answer.status == 200
    assert answer.headers["retry-after"] == "300"
    assert sum(i["success"] for i in items) == 1
    assert {i["error_type"] for i in items if not i["success"]} == {"RateLimited"}
    # the first success, then at most the four calls in flight when the first 429 came back
    assert len(double.token_requests()) <= 1 + 4


def test_one_items_unexpected_failure_fails_that_item_alone(direct, double, monkeypatch):
    from stream_tokens.runtime import bootstrap

    api = bootstrap.token_service().api
    real_issue = api.issue

    def flaky(request, credentials, limits):
        if request.video_id == OTHER:
            raise KeyError("surprise")
        return real_issue(request, credentials, limits)

    monkeypatch.setattr(api, "issue", flaky)
    results = direct([{"identifier": VIDEO}, {"identifier": OTHER}, {"identifier": VIDEO}])
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["error_type"] == "InternalError"
    assert "surprise" not in json.dumps(results[1])


def test_a_mixed_batch_counts_tokens_by_issuer(app, double, capsys):
    caller = sensitive_key()
    requests = [
        {"identifier": VIDEO, "id": caller["id"], "pem": caller["pem"]},
        {"identifier": VIDEO},
        {"identifier": OTHER},
    ]
    answer = app.post("/videos/tokens", {"requests": requests})
    assert [i["success"] for i in answer.body["result"]] == [True] * 3
    for item in answer.body["result"]:
        sensitive(item["result"]["token"])
    issued = sorted((r["Issuer"], r["TokensIssued"]) for r in emf_records(capsys) if "TokensIssued" in r)
    assert issued == [("api", [2.0]), ("local", [1.0])]
    assert len(double.token_requests()) == 2


def test_a_step_functions_batch_shares_its_batch_input(direct, double):
    results = direct(event("direct.step-functions-batch"))
    assert [r["result"]["video_id"] for r in results] == [VIDEO, OTHER]
    sent = double.token_requests()
    assert [r.body.get("accessRules") for r in sent] == [
        event("direct.step-functions-batch")["BatchInput"]["accessRules"]
    ] * 2
    assert sorted(r.body["nbf"] for r in sent)[0] == 1795435200  # the second item's own nbf


def test_a_direct_failure_is_logged_and_counted_once(direct, double, capsys):
    with pytest.raises(errors.InvalidRequest):
        direct({"identifier": "nope"})
    assert [r["ErrorKind"] for r in emf_records(capsys) if "Errors" in r] == ["InvalidRequest"]


def test_a_batch_with_a_misconfigured_secret_fails_whole(app, double, monkeypatch):
    monkeypatch.setenv("SIGNING_MODE", "local")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    answer = app.post("/videos/tokens", {"requests": [{"identifier": VIDEO}, {"identifier": OTHER}]})
    assert answer.status == 500
    assert answer.error_codes == [10010]


def test_errors_are_counted_by_kind_in_a_batch(app, double, capsys):
    answer = app.post(
        "/videos/tokens", {"requests": [{"identifier": "x"}, {"identifier": VIDEO}, {"identifier": VIDEO, "exp": 1}]}
    )
    assert answer.status == 200
    kinds = [record["ErrorKind"] for record in emf_records(capsys) if "Errors" in record]
    assert kinds == ["InvalidRequest", "InvalidRequest"]


def test_the_batch_deadline_bounds_slow_upstreams(app, double, monkeypatch):
    double.fail_next(*[Fault(200, None, delay=1.5)] * 12)
    started = time.monotonic()
    batch = http_api_event("POST", "/videos/tokens", json.dumps({"requests": [{"identifier": VIDEO}] * 4}))
    answer = app.invoke(batch, timeout_seconds=3)
    assert answer.status == 200
    assert {i["error_type"] for i in answer.body["result"]} == {"UpstreamTimeout"}
    assert time.monotonic() - started < 3


def test_a_raised_error_carries_no_frames_of_the_layer(direct, double):
    import traceback

    with pytest.raises(errors.InvalidRequest) as caught:
        direct({"identifier": "nope", "exp": 1})
    files = [frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)]
    # only the one frame that raises it (runtime/invocation.py): nothing of where it was found
    assert [f for f in files if "/stream_tokens/" in f] == [str(INVOCATION)]
    assert "(at /identifier)" in str(caught.value)
