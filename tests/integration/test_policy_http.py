"""Who may mint what, through the real handlers with the event shapes API Gateway and EventBridge
hand over: the built-in policy, a policy document in SSM, entitlements, quotas, the record.
(Through `make run` with real bearer tokens: test_policy_make_run.py.)"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from localdev.standins import stack
from localdev.standins.apigw import iam_authorizer, jwt_authorizer
from localdev.standins.examples import VIDEO
from localdev.standins.lambda_invoke import LambdaInvokeStandIn
from localdev.standins.signing_keys import new_signing_key
from stream_tokens.runtime import bootstrap
from tests.integration.test_entitlements import entitlements_table, put
from tests.support.function import emf_records
from tests.support.keys import register_key
from tests.support.log_hygiene import sensitive

OTHER = "0123456789abcdef0123456789abcdef"
BLOCK = {"type": "ip.geoip.country", "action": "block", "country": ["KP"]}


def viewer(videos: str, sub: str = "viewer-1", **claims: str) -> dict[str, Any]:
    """A JWT caller whose stream_videos claim is `videos` (as API Gateway hands claims over: strings)."""
    return jwt_authorizer({"sub": sub, "stream_videos": videos, **claims}, ["openid"])


def use_policy(monkeypatch, moto_endpoint: str, document: dict[str, Any] | str) -> str:
    name = f"/stream-signed-urls/test-{uuid.uuid4().hex}"
    text = document if isinstance(document, str) else json.dumps(document)
    for variable, value in stack.create_policy_parameter(moto_endpoint, name, text).items():
        monkeypatch.setenv(variable, value)
    return name


def errors(answer: Any) -> list[tuple[int, str | None]]:
    return [(e["code"], e.get("source", {}).get("pointer")) for e in answer.body["errors"]]


@pytest.mark.parametrize(
    "listed", [VIDEO, f"[{OTHER} {VIDEO}]", json.dumps([OTHER, VIDEO]), f"{OTHER},{VIDEO}", VIDEO.upper()]
)
def test_a_jwt_caller_mints_the_videos_their_claim_lists_in_every_form(app, double, listed):
    answer = app.mint({}, authorizer=viewer(listed))
    assert answer.status == 200, answer.body
    sensitive(answer.body["result"]["token"])


def test_another_video_is_refused_naming_the_rule_and_never_saying_whether_it_exists(app, double):
    known = app.mint({}, video=OTHER, authorizer=viewer(VIDEO))
    double.fail_next()  # were Cloudflare asked, it would say "no such video": it must not be asked
    unknown = app.mint({}, video="f" * 32, authorizer=viewer(VIDEO))
    assert (known.status, unknown.status) == (403, 403)
    assert errors(known) == errors(unknown) == [(10017, "/identifier")]
    assert known.body["errors"][0]["message"] == unknown.body["errors"][0]["message"]
    assert "'jwt-callers'" in known.body["errors"][0]["message"]
    assert double.token_requests() == []


def test_what_the_built_in_policy_refuses_whoever_asks(app, double):
    generated = register_key(new_signing_key())
    key = {"id": generated["id"], "pem": generated["pem"]}
    for authorizer in (viewer(VIDEO), iam_authorizer()):
        assert errors(app.mint({"downloadable": True}, authorizer=authorizer)) == [(10017, "/downloadable")]
        assert errors(app.mint({"flags": {"original": True}}, authorizer=authorizer)) == [(10017, "/flags/original")]
        assert errors(app.mint(key, authorizer=authorizer)) == [(10017, "/id")]
        assert errors(app.mint({"exp": 2**31 - 1}, authorizer=authorizer)) == [(10014, "/exp")]  # 1 h at most
    assert app.mint({}, authorizer=None).status == 403  # IAM deployment, no caller: no rule
    assert double.token_requests() == []


def test_an_iam_caller_mints_any_video(app, double):
    answer = app.mint({}, video=OTHER, authorizer=iam_authorizer("any-backend"))
    assert answer.status == 200
    sensitive(answer.body["result"]["token"])


def test_a_jwt_callers_quota_is_a_429_naming_it_with_retry_after(app, double, monkeypatch):
    monkeypatch.setenv("JWT_QUOTA_TOKENS", "2")
    statuses = [app.mint({}, authorizer=viewer(VIDEO, sub="greedy")) for _ in range(3)]
    assert [a.status for a in statuses] == [200, 200, 429]
    refused = statuses[2]
    assert refused.body["errors"][0]["code"] == 10018
    assert "'jwt-callers'" in refused.body["errors"][0]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 300
    assert app.mint({}, authorizer=viewer(VIDEO, sub="someone-else")).status == 200  # a quota per caller
    for answer in statuses[:2]:
        sensitive(answer.body["result"]["token"])


def test_a_batch_is_refused_item_by_item(app, double, monkeypatch):
    monkeypatch.setenv("JWT_QUOTA_TOKENS", "2")
    requests = [{"identifier": VIDEO}, {"identifier": OTHER}, {"identifier": VIDEO}, {"identifier": VIDEO}]
    answer = app.post("/videos/tokens", {"requests": requests}, authorizer=viewer(VIDEO, sub="batcher"))
    items = answer.body["result"]
    assert [item.get("status", 200) for item in items] == [200, 403, 200, 429]
    assert items[1]["errors"][0]["source"]["pointer"] == "/requests/1/identifier"
    for item in (items[0], items[2]):
        sensitive(item["result"]["token"])


ORGANISATION = {
    "version": 1,
    "rules": [
        {
            "name": "backend",
            "callers": {"principal": "arn:aws:sts::123456789012:assumed-role/site-backend/*"},
            "videos": "any",
            "downloadable": True,
            "accessRules": {"add": [BLOCK]},
        },
        {"name": "gold", "callers": {"via": ["jwt"], "group": "gold"}, "videos": "any", "lifetime": {"max": 1800}},
    ],
}


def test_a_policy_document_decides_by_principal_and_group(app, double, monkeypatch, moto_endpoint):
    use_policy(monkeypatch, moto_endpoint, ORGANISATION)
    mine = {"type": "ip.src", "action": "allow", "ip": ["192.0.2.0/24"]}
    backend = app.mint({"downloadable": True, "accessRules": [mine]}, authorizer=iam_authorizer("site-backend"))
    assert backend.status == 200, backend.body
    assert "mp4" in backend.body["result"]["urls"]
    assert double.token_requests()[0].body["accessRules"] == [BLOCK, mine]  # the operator's rule first
    assert app.mint({}, authorizer=iam_authorizer("site-backend-evil")).status == 403
    gold = viewer("", **{"cognito:groups": "[gold silver]"})
    assert app.mint({}, video=OTHER, authorizer=gold).status == 200
    assert errors(app.mint({"exp": 2**31 - 1}, authorizer=gold)) == [(10014, "/exp")]
    assert app.mint({}, authorizer=viewer(VIDEO)).status == 403  # no rule for a JWT caller outside gold
    for answer in (backend,):
        sensitive(answer.body["result"]["token"])


def test_a_policy_that_does_not_parse_never_loads(app, double, monkeypatch, moto_endpoint, capsys):
    name = use_policy(monkeypatch, moto_endpoint, '{"version": 1, "rules": [{"name": "all", "callers": {}}]}')
    cold = app.mint({}, authorizer=iam_authorizer("site-backend"))
    assert cold.status == 500  # no good policy yet: fail closed, never the built-in one
    stack.create_policy_parameter(moto_endpoint, name, json.dumps(ORGANISATION))
    monkeypatch.setenv("POLICY_MAX_AGE_SECONDS", "0")
    bootstrap.reset()
    assert app.mint({}, authorizer=iam_authorizer("site-backend")).status == 200
    stack.create_policy_parameter(moto_endpoint, name, "{not json")
    assert app.mint({}, authorizer=iam_authorizer("site-backend")).status == 200  # the last good one stays
    rejected = [r for r in emf_records(capsys) if "PolicyRejected" in r]
    assert len(rejected) >= 2  # each read of a bad version is counted (and alarmed)


def test_table_entitlements_for_a_caller_and_their_groups(app, double, monkeypatch, moto_endpoint):
    table = entitlements_table(moto_endpoint)
    put(moto_endpoint, table, "viewer-1", VIDEO)
    put(moto_endpoint, table, "group:gold", OTHER)
    monkeypatch.setenv("ENTITLEMENTS_TABLE", table)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
    document = {"version": 1, "rules": [{"name": "subscribers", "callers": {"via": ["jwt"]}, "videos": "table"}]}
    use_policy(monkeypatch, moto_endpoint, document)
    caller = viewer("", **{"cognito:groups": "[gold]"})
    assert [app.mint({}, video=video, authorizer=caller).status for video in (VIDEO, OTHER, "e" * 32)] == [
        200,
        200,
        403,
    ]


def test_the_operators_function_decides(app, double, monkeypatch, moto_endpoint):
    def approve(event: dict[str, Any]) -> dict[str, Any]:
        return {"entitled": [v for v in event["videos"] if event["caller"]["claims"].get("plan") == "pro"]}

    with LambdaInvokeStandIn({"approve": approve}) as lambda_api:
        monkeypatch.setenv("ENTITLEMENT_FUNCTION", "arn:aws:lambda:us-east-1:123456789012:function:approve")
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_api.endpoint)
        document = {"version": 1, "rules": [{"name": "by-plan", "callers": {"via": ["jwt"]}, "videos": "function"}]}
        use_policy(monkeypatch, moto_endpoint, document)
        assert app.mint({}, authorizer=viewer("", plan="pro")).status == 200
        assert app.mint({}, authorizer=viewer("", sub="viewer-2", plan="free")).status == 403
        assert [event["caller"]["id"] for _, event in lambda_api.invocations] == ["viewer-1", "viewer-2"]


def test_in_api_mode_one_caller_cannot_take_the_whole_cloudflare_share(app, double, monkeypatch):
    monkeypatch.setenv("UPSTREAM_CALLS_PER_5_MINUTES", "200")
    monkeypatch.setenv("CALLER_CLOUDFLARE_SHARE_PERCENT", "5")  # 10 calls per caller per 5 minutes
    answers = [app.mint({}, video=OTHER, authorizer=iam_authorizer("hungry")) for _ in range(11)]
    assert [a.status for a in answers] == [200] * 10 + [429]
    assert "'cloudflare-share'" in answers[10].body["errors"][0]["message"]
    assert app.mint({}, video=OTHER, authorizer=iam_authorizer("modest")).status == 200
    for answer in answers[:10]:
        sensitive(answer.body["result"]["token"])


def test_an_eventbridge_caller_is_its_source_and_account(direct, double, monkeypatch, moto_endpoint):
    document = {
        "version": 1,
        "rules": [{"name": "pipeline", "callers": {"via": ["direct"]}, "videos": "any", "downloadable": True}],
    }
    use_policy(monkeypatch, moto_endpoint, document)
    event = {
        "version": "0",
        "detail-type": "Stream Token Requested",
        "source": "media.pipeline",
        "account": "123456789012",
        "detail": {"identifier": VIDEO, "downloadable": True},
    }
    assert "mp4" in direct(event)["urls"]
