"""The stack's alarms, their notification and its dashboard, as template.yaml declares them.
(That the metrics they name are the ones the code writes is tests/integration/test_operations.py.)"""

from __future__ import annotations

import json
import re

from localdev.standins.template import TEMPLATE, template
from operations import dashboard

T = template()
RESOURCES = T["Resources"]
NOTIFY = {
    "!If": [
        "NotifyAlarms",
        [{"!If": ["UseExistingAlarmTopic", {"!Ref": "AlarmTopicArn"}, {"!Ref": "AlarmTopic"}]}],
        {"!Ref": "AWS::NoValue"},
    ]
}


def alarms() -> dict[str, dict]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_the_committed_dashboard_is_what_make_dashboard_writes():
    text = TEMPLATE.read_text()
    assert dashboard.rendered_template(text) == text, "run `make dashboard` and commit template.yaml"


def test_the_dashboard_body_is_json_naming_only_what_the_stack_has():
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["!Sub"]
    names = set(re.findall(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}", body))
    assert names == {
        "AWS::Region",
        "StreamApi",
        "MintFunction",
        "MintDirectFunction",
        "RotateSigningKeyFunction",
        "MintFailureQueue",
        "CloudflareCallsPer5Minutes",
    }
    assert names - {"AWS::Region"} <= set(RESOURCES) | set(T["Parameters"])
    substituted = re.sub(r"\$\{CloudflareCallsPer5Minutes\}", "600", body)
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", substituted))["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    for topic in ("issuer", "p50 / p99", "error type", "Policy refusals", "share", "Cold starts", "Failure queue"):
        assert any(topic in title for title in titles), topic
    assert all(w["properties"]["period"] == 300 for w in widgets)


def test_an_alarm_for_everything_an_operator_must_act_on():
    watched = {
        (
            a["Namespace"] if isinstance(a["Namespace"], str) else "own",
            a["MetricName"],
            tuple(sorted((d["Name"], json.dumps(d["Value"])) for d in a.get("Dimensions", []))),
        )
        for a in alarms().values()
    }
    expected = {
        ("AWS/ApiGateway", "5xx", (("ApiId", '{"!Ref": "StreamApi"}'),)),
        ("AWS/Lambda", "Errors", (("FunctionName", '{"!Ref": "MintFunction"}'),)),
        ("AWS/Lambda", "Errors", (("FunctionName", '{"!Ref": "MintDirectFunction"}'),)),
        ("AWS/Lambda", "Throttles", (("FunctionName", '{"!Ref": "MintFunction"}'),)),
        ("AWS/Lambda", "Throttles", (("FunctionName", '{"!Ref": "MintDirectFunction"}'),)),
        ("own", "ApiThrottled", ()),  # API Gateway's own 429s, counted from its access log
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            (("QueueName", '{"!GetAtt": "MintFailureQueue.QueueName"}'),),
        ),
        (
            "StreamSignedUrls",
            "Errors",
            (("ErrorKind", '"UpstreamCredentialsRejected"'), ("service", '"stream-signed-urls"')),
        ),
        ("StreamSignedUrls", "RateLimited", (("LimitedBy", '"Cloudflare"'), ("service", '"stream-signed-urls"'))),
        ("StreamSignedUrls", "RateLimited", (("LimitedBy", '"Share"'), ("service", '"stream-signed-urls"'))),
        ("StreamSignedUrls", "RateLimited", (("LimitedBy", '"BudgetStore"'), ("service", '"stream-signed-urls"'))),
        ("StreamSignedUrls", "CloudflareShareUsed", (("service", '"stream-signed-urls"'),)),
        ("StreamSignedUrls", "SigningKeyMissing", (("service", '"stream-signed-urls"'),)),
        ("AWS/Lambda", "Errors", (("FunctionName", '{"!Ref": "RotateSigningKeyFunction"}'),)),
        ("StreamSignedUrls", "PolicyRejected", (("Reason", '"schema"'), ("service", '"stream-signed-urls"'))),
    }
    assert watched == expected


def test_every_alarm_notifies_the_topic_and_says_what_it_means():
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == NOTIFY, name
        assert alarm["OKActions"] == NOTIFY, name
        assert alarm["TreatMissingData"] == "notBreaching", name  # no traffic is not a failure
        assert len(alarm["AlarmDescription"]) > 40, name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["Period"] == 300, name


def test_thresholds_are_parameters_where_an_operator_would_tune_them():
    thresholds = {name: a["Threshold"] for name, a in alarms().items()}
    parameters = {t["!Ref"] for t in thresholds.values() if isinstance(t, dict)}
    assert (
        parameters
        == {
            "ErrorAlarmThreshold",
            "ThrottleAlarmThreshold",
            "FailureQueueAlarmThreshold",
            "CloudflareRateLimitAlarmThreshold",
            "ShareUsedAlarmPercent",
        }
        <= set(T["Parameters"])
    )
    # any refused credential, share used up, budget failed closed, missing key or failed rotation needs a person
    fixed = {name for name, t in thresholds.items() if t == 1}
    assert fixed == {
        "CloudflareCredentialsRejectedAlarm",
        "CloudflareShareUsedUpAlarm",
        "CloudflareBudgetStoreFailedClosedAlarm",
        "SigningKeyMissingAlarm",
        "SigningKeyRotationFailedAlarm",
        "PolicyRejectedAlarm",  # a minting policy that did not load: the operator's change is not in force
    }


def test_alarm_email_subscribes_and_an_existing_topic_replaces_the_created_one():
    conditions = T["Conditions"]
    assert conditions["UseExistingAlarmTopic"] == {"!Not": [{"!Equals": [{"!Ref": "AlarmTopicArn"}, ""]}]}
    assert conditions["SubscribeAlarmEmail"] == {"!Not": [{"!Equals": [{"!Ref": "AlarmEmail"}, ""]}]}
    assert conditions["CreateAlarmTopic"] == {
        "!And": [{"!Not": [{"!Condition": "UseExistingAlarmTopic"}]}, {"!Condition": "SubscribeAlarmEmail"}]
    }
    assert conditions["NotifyAlarms"] == {
        "!Or": [{"!Condition": "UseExistingAlarmTopic"}, {"!Condition": "SubscribeAlarmEmail"}]
    }
    assert RESOURCES["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert subscription["Properties"] == {
        "Protocol": "email",
        "Endpoint": {"!Ref": "AlarmEmail"},
        "TopicArn": {"!If": ["UseExistingAlarmTopic", {"!Ref": "AlarmTopicArn"}, {"!Ref": "AlarmTopic"}]},
    }
    for parameter in ("AlarmEmail", "AlarmTopicArn"):
        assert T["Parameters"][parameter]["Default"] == ""  # empty: alarms without notification
    assert re.fullmatch(T["Parameters"]["AlarmTopicArn"]["AllowedPattern"], "arn:aws:sns:us-east-1:123456789012:ops")
    assert not re.fullmatch(T["Parameters"]["AlarmEmail"]["AllowedPattern"], "not an address")


def test_api_gateway_throttling_is_counted_from_the_access_log():
    metric_filter = RESOURCES["ApiThrottledMetricFilter"]["Properties"]
    assert metric_filter["LogGroupName"] == {"!Ref": "StreamApiAccessLogs"}
    assert metric_filter["FilterPattern"] == '{ $.status = "429" && $.integrationLatency = "-" }'
    access_log = RESOURCES["StreamApi"]["Properties"]["AccessLogSettings"]["Format"]
    assert '"status":"$context.status"' in access_log
    assert '"integrationLatency":"$context.integrationLatency"' in access_log
    (transformation,) = metric_filter["MetricTransformations"]
    assert transformation["MetricNamespace"] == RESOURCES["ApiThrottledAlarm"]["Properties"]["Namespace"]


MINTING_LOG_GROUPS = [{"!Ref": "MintFunctionLogGroup"}, {"!Ref": "MintDirectFunctionLogGroup"}]


def query_definitions() -> dict[str, dict]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Logs::QueryDefinition"}


def test_saved_logs_insights_queries_count_tokens_by_caller_and_refusals_by_reason():
    """AWS::Logs::QueryDefinition: Name (a "/" puts it in a folder, here the stack's), QueryString
    (Logs Insights' own language, the default QueryLanguage CWLI), LogGroupNames (the groups it
    runs on). The fields are the audit lines' (docs/policy.md, "The record"; the lines themselves
    are held to them in tests/integration/test_operations.py)."""
    queries = query_definitions()
    assert {q["Name"]["!Sub"] for q in queries.values()} == {
        "${AWS::StackName}/tokens-by-caller",
        "${AWS::StackName}/refusals-by-reason",
    }
    for name, query in queries.items():
        assert query["LogGroupNames"] == MINTING_LOG_GROUPS, name
        assert "QueryLanguage" not in query, name  # CWLI, the default
        assert len(query["QueryString"]) < 10_000, name
    by_name = {q["Name"]["!Sub"].rsplit("/", 1)[1]: q["QueryString"] for q in queries.values()}
    assert [line.strip() for line in by_name["tokens-by-caller"].splitlines()] == [
        "fields @timestamp, caller.id, rule, video_id",
        '| filter message = "token issued"',
        "| stats count(*) as tokens by caller.id, rule",
        "| sort tokens desc",
    ]
    refusals = [line.strip() for line in by_name["refusals-by-reason"].splitlines()]
    assert refusals[1:] == [
        '| filter message = "request refused"',
        "| stats count(*) as refusals by kind, rule, caller.id",
        "| sort refusals desc",
    ]


def test_the_entitlements_table_is_an_output_when_the_stack_creates_it():
    output = T["Outputs"]["EntitlementsTableName"]
    assert output["Condition"] == RESOURCES["EntitlementsTableResource"]["Condition"] == "CreateEntitlementsTable"
    assert output["Value"] == {"!Ref": "EntitlementsTableResource"}


def test_the_missing_signing_key_alarm_exists_where_a_key_is_expected():
    assert RESOURCES["SigningKeyMissingAlarm"]["Condition"] == "SignWithSecretKey"
    assert T["Conditions"]["SignWithSecretKey"] == {"!Not": [{"!Equals": [{"!Ref": "SigningMode"}, "api"]}]}
