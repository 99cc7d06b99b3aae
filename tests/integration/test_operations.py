"""What the alarms and the dashboard watch, as the functions really write it: the EMF lines of the
handler (through API Gateway events) hold every metric the template names, with exactly the
dimension set it names (a CloudWatch query with another set draws nothing, an alarm never fires)."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from typing import Any

from localdev.standins import stack
from localdev.standins.cloudflare_double import Fault
from localdev.standins.examples import VIDEO
from localdev.standins.template import template
from operations import dashboard
from stream_tokens import observability as o
from tests.integration.test_faults import use_budget
from tests.integration.test_warm_reuse import use_signing_key
from tests.support.function import MintApp, emf_records, function_log_lines

BACKENDS = {"version": 1, "rules": [{"name": "backends", "callers": {"via": ["iam"]}, "videos": "any"}]}


def dimension_sets(record: dict[str, Any]) -> list[tuple[str, ...]]:
    return [tuple(d) for d in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]]


def test_cloudflares_own_429_counts_as_rate_limited_by_cloudflare(app, double, capsys):
    double.fail_next(Fault(429, None, {"Retry-After": "300"}))
    assert app.mint({}).status == 429
    limited = [e for e in emf_records(capsys) if o.RATE_LIMITED in e]
    assert [(e["LimitedBy"], e["RateLimited"], dimension_sets(e)) for e in limited] == [
        ("Cloudflare", [1.0], [("service", "LimitedBy")])
    ]


def test_the_share_in_use_climbs_and_a_call_it_refuses_counts_as_rate_limited_by_share(
    app, double, monkeypatch, capsys
):
    use_budget(monkeypatch, 60)  # 0.1 call/s for this container, a burst of 6
    answers = [app.mint({}).status for _ in range(7)]
    assert answers == [200] * 6 + [429]
    emf = emf_records(capsys)
    used = [e[o.SHARE_USED][0] for e in emf if o.SHARE_USED in e]
    assert len(used) == 6
    assert used == sorted(used)
    assert used[0] < 20
    assert used[-1] > 99
    limited = [(e["LimitedBy"], e["RateLimited"]) for e in emf if o.RATE_LIMITED in e]
    assert limited == [("Share", [1.0])]
    assert len(double.token_requests()) == 6  # the refused call never reached Cloudflare


def test_credentials_cloudflare_refuses_count_as_upstream_credentials_rejected(app, double, capsys):
    double.fail_next(Fault(401), Fault(401))  # refused, the secret re-read, refused again
    answer = app.mint({})
    assert answer.status == 502
    assert answer.error_codes == [10007]
    errors = [(e["ErrorKind"], dimension_sets(e)) for e in emf_records(capsys) if o.ERRORS in e]
    assert errors == [("UpstreamCredentialsRejected", [("service", "ErrorKind")])]


def emitted(app, double, monkeypatch, moto_endpoint, capsys) -> dict[str, dict[frozenset[str], set[tuple]]]:
    """{metric: {dimension names: {dimension values}}} from real runs: an API token, a local one,
    a refusal, Cloudflare's 429, credentials it refuses, the share used up, a rotation's key event,
    the minting policy's refusal and a policy document it rejects."""
    assert app.mint({}).status == 200  # a cold start, an API token, a call to Cloudflare
    assert app.mint({"exp": "soon"}).status == 400
    refused = app.mint({"downloadable": True})  # the built-in policy refuses it (docs/policy.md)
    assert (refused.status, refused.error_codes) == (403, [10017])
    double.fail_next(Fault(429, None, {"Retry-After": "300"}))
    assert app.mint({}).status == 429
    double.fail_next(Fault(401), Fault(401))
    assert app.mint({}).status == 502
    monkeypatch.setenv("CALLER_CLOUDFLARE_SHARE_PERCENT", "100")  # the deployment's share, not the caller's part
    use_budget(monkeypatch, 3)  # a burst of 1: the next call is let through, the one after refused
    assert [app.mint({}).status for _ in range(2)] == [200, 429]
    use_signing_key(monkeypatch, moto_endpoint)
    assert app.mint({}).status == 200
    o.signing_keys("created")  # what the rotation function writes (its own tests run the whole rotation)
    o.budget_store_fallback("ResourceNotFoundException")  # the budget table failed (test_shared_budget.py),
    o.rate_limited(o.LIMITED_BY_BUDGET_STORE)  # and, with no reserved concurrency, the call it refused
    policy_document_rejected(monkeypatch, moto_endpoint)
    seen: dict[str, dict[frozenset[str], set[tuple]]] = defaultdict(lambda: defaultdict(set))
    for record in emf_records(capsys):
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == o.NAMESPACE
        (dimensions,) = directive["Dimensions"]
        for metric in directive["Metrics"]:
            seen[metric["Name"]][frozenset(dimensions)].add(tuple(sorted((d, record[d]) for d in dimensions)))
    return seen


def policy_document_rejected(monkeypatch, moto_endpoint: str) -> None:
    """A deployment with a policy parameter, re-read on every request: a good document, then one
    that is not JSON. The last good policy stays in force (and PolicyRejected is written)."""
    name = f"/stream-signed-urls/operations-{uuid.uuid4().hex}"
    env = stack.create_policy_parameter(moto_endpoint, name, json.dumps(BACKENDS)) | {"POLICY_MAX_AGE_SECONDS": "0"}
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    container = MintApp()
    assert container.mint({}).status == 200
    stack.create_policy_parameter(moto_endpoint, name, "{bad")
    assert container.mint({}).status == 200


def alarm_metrics() -> list[tuple[str, dict[str, Any]]]:
    """(metric, {dimension: value}) of every alarm on the code's namespace."""
    found = []
    for resource in template()["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and properties.get("Namespace") == o.NAMESPACE:
            dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
            found.append((properties["MetricName"], dimensions))
    return found


def test_every_metric_the_dashboard_and_alarms_name_is_emitted_with_those_dimensions(
    app, double, monkeypatch, moto_endpoint, capsys
):
    seen = emitted(app, double, monkeypatch, moto_endpoint, capsys)
    assert set(seen) == set(o.EMITTED)  # each metric the code can write was written above

    named: list[tuple[str, dict[str, Any]]] = alarm_metrics()
    for metric in dashboard.custom_metrics():
        if isinstance(metric, dashboard.Search):  # every value of one dimension: its names must match
            named.append((metric.name, {name: None for name in metric.dimension_names}))
        else:
            named.append((metric.name, dict(metric.dimensions)))
    assert {name for name, _ in named} == set(o.EMITTED)  # and the dashboard or an alarm shows each
    for name, dimensions in named:
        sets = seen[name]
        assert frozenset(dimensions) in sets, (name, sorted(dimensions), [sorted(s) for s in sets])
        fixed = {k: v for k, v in dimensions.items() if v is not None and not re.fullmatch(r"\$\{\w+\}", v)}
        values = sets[frozenset(dimensions)]
        assert any(set(fixed.items()) <= set(value) for value in values), (name, fixed, values)


def printed_lines(capsys) -> list[dict[str, Any]]:
    """The JSON lines printed straight to stdout so far, metrics aside (printed again, for the log scan)."""
    out = capsys.readouterr().out
    print(out, end="")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and not line.startswith('{"_aws"')]


def field(line: dict[str, Any], dotted: str) -> Any:
    """A field as Logs Insights names it in a JSON event: `caller.id` is the key `id` in `caller`."""
    value: Any = line
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def test_the_saved_queries_find_the_audit_lines_and_their_fields(app, capsys):
    """What template.yaml's saved Logs Insights queries filter and group on is in the lines the
    function writes: "token issued" with caller.id, rule and video_id; "request refused" with kind,
    rule and caller.id."""
    queries = {
        r["Properties"]["Name"]["!Sub"].rsplit("/", 1)[1]: r["Properties"]["QueryString"]
        for r in template()["Resources"].values()
        if r["Type"] == "AWS::Logs::QueryDefinition"
    }
    capsys.readouterr()
    with function_log_lines() as logged:  # the logger's lines; the audit lines of tokens go to stdout at once
        assert app.mint({}).status == 200
        assert app.mint({"downloadable": True}).status == 403
    lines = [json.loads(line) for line in logged] + printed_lines(capsys)
    for query in queries.values():
        (message,) = re.findall(r'filter message = "([^"]+)"', query)
        (grouped,) = re.findall(r"stats count\(\*\) as \w+ by (.+)", query)
        matched = [line for line in lines if line.get("message") == message]
        assert matched, (message, [line.get("message") for line in lines])
        for name in [n.strip() for n in grouped.split(",")]:
            assert all(field(line, name) not in (None, "") for line in matched), (name, matched)
    (issued,) = [line for line in lines if line.get("message") == "token issued"]
    assert (field(issued, "caller.via"), field(issued, "video_id")) == ("iam", VIDEO)
    (refused,) = [line for line in lines if line.get("message") == "request refused"]
    assert (refused["kind"], refused["rule"]) == ("NotPermitted", issued["rule"])
