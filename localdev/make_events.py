"""Write events/, the real event shapes for tests and `sam local invoke -e`.

API Gateway HTTP API (v2) events for every route, and the direct function's events (direct.*):
one request, a Step Functions input, a list, an EventBridge event, an EventBridge Pipe's batch of
SQS records; and a Secrets Manager rotation step for the signing key rotation function (rotation.*).
`make events` regenerates them; the tests run every one through its handler. The
account is Cloudflare's documentation example, the one `make run` and the tests configure.
"""

from __future__ import annotations

import json

from .standins.apigw import http_api_event
from .standins.examples import ACCOUNT as EXAMPLE_ACCOUNT
from .standins.examples import VIDEO as EXAMPLE_VIDEO
from .standins.template import ROOT, routes

EVENTS = ROOT / "events"
OTHER_VIDEO = "5d5bc37ffcf54c9b82e996823bffbb81"
ACCOUNT_PATH = f"/accounts/{EXAMPLE_ACCOUNT}/stream/{EXAMPLE_VIDEO}/token"
VIDEO_PATH = f"/videos/{EXAMPLE_VIDEO}/token"
RULES = [
    {"type": "ip.geoip.country", "action": "block", "country": ["US", "MX"]},
    {"type": "ip.src", "action": "allow", "ip": ["93.184.216.0/24", "2400:cb00::/32"]},
    {"type": "any", "action": "block"},
]

CASES: dict[str, tuple[str, str | None]] = {
    "videos-token.valid": (VIDEO_PATH, json.dumps({"accessRules": RULES})),
    # refused by the built-in policy (downloadable tokens are an explicit opt-in of a policy document)
    "videos-token.downloadable-refused": (VIDEO_PATH, json.dumps({"downloadable": True})),
    "videos-token.defaults": (VIDEO_PATH, None),
    "videos-token.empty-object": (VIDEO_PATH, "{}"),
    "videos-token.invalid-fields": (
        VIDEO_PATH,
        json.dumps({"exp": 1500000000, "downloadable": "yes", "colour": "red", "accessRules": [{"type": "ip.src"}]}),
    ),
    "videos-token.not-json": (VIDEO_PATH, "exp=1500000000"),
    "videos-token.bad-identifier": ("/videos/..%2F..%2Fzones/token", "{}"),
    "account-token.valid": (ACCOUNT_PATH, json.dumps({"accessRules": RULES[1:]})),
    "account-token.defaults": (ACCOUNT_PATH, None),
    "account-token.other-account": (f"/accounts/{'f' * 32}/stream/{EXAMPLE_VIDEO}/token", "{}"),
    "account-token.invalid-signing-key": (ACCOUNT_PATH, json.dumps({"id": "e9db990a82666dd571c77f944a5c5c8d"})),
    "videos-tokens.batch": (
        "/videos/tokens",
        json.dumps(
            {
                "requests": [
                    {"identifier": EXAMPLE_VIDEO},
                    {"identifier": "not-a-video-id", "exp": 1500000000},
                    {"identifier": OTHER_VIDEO, "accessRules": RULES[1:]},
                ]
            }
        ),
    ),
}

SINGLE = {"identifier": EXAMPLE_VIDEO, "accessRules": RULES}
DIRECT: dict[str, object] = {
    # Lambda invoke / a Step Functions task: one request object.
    "direct.single": SINGLE,
    "direct.single-invalid": {"identifier": "not-a-video-id", "exp": 1500000000, "colour": "red"},
    "direct.step-functions-input": {"identifier": EXAMPLE_VIDEO, "account_id": EXAMPLE_ACCOUNT},
    # A Step Functions Distributed Map with an ItemBatcher: Items, and BatchInput shared by all.
    "direct.step-functions-batch": {
        "Items": [{"identifier": EXAMPLE_VIDEO}, {"identifier": OTHER_VIDEO, "nbf": 1795435200}],
        "BatchInput": {"account_id": EXAMPLE_ACCOUNT, "accessRules": RULES[1:]},
    },
    # EventBridge Pipes enrichment (after an input transformer) and a Step Functions Map: a list.
    "direct.list": [SINGLE, {"identifier": EXAMPLE_VIDEO, "downloadable": 1}, {"identifier": OTHER_VIDEO}],
    # An EventBridge rule's target: the request is the event's detail.
    "direct.eventbridge": {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Stream Token Requested",
        "source": "stream-signed-urls.requests",
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"identifier": EXAMPLE_VIDEO, "accessRules": RULES[1:]},
    },
    # An EventBridge Pipe from SQS, enrichment step: SQS records whose body is the request.
    "direct.pipes-sqs-batch": [
        {
            "messageId": f"059f36b4-87a3-44ab-83d2-66197590{i:04d}",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1795435200000",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1795435200001",
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stream-token-requests",
            "awsRegion": "us-east-1",
        }
        for i, body in enumerate(
            [json.dumps({"identifier": EXAMPLE_VIDEO}), "not json", json.dumps({"identifier": OTHER_VIDEO})]
        )
    ],
}

# Secrets Manager invoking the rotation function: one event per step, the same three keys.
ROTATION: dict[str, object] = {
    "rotation.create-secret": {
        "Step": "createSecret",
        "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:stream-signed-urls/cloudflare-a1B2c3",
        "ClientRequestToken": "0d1d2c5e-3a4b-4c6d-8e9f-0a1b2c3d4e5f",
    },
}


def build(name: str) -> dict[str, object]:
    path, body = CASES[name]
    (route,) = [r for r in routes() if r.match("POST", path) is not None]
    event = http_api_event(
        "POST", path, body, route_key=route.key, path_parameters=route.match("POST", path), source_ip="198.51.100.7"
    )
    # Stable values, so that regenerating gives the same files.
    event["requestContext"].update(requestId="c6af9ac6-7b61-11e6-9a41-93e8deadbeef", time="23/Nov/2026:12:00:00 +0000")
    event["requestContext"]["timeEpoch"] = 1795435200000
    event["headers"]["x-amzn-trace-id"] = "Root=1-6744c680-0123456789abcdef01234567"
    return event


def main() -> None:
    EVENTS.mkdir(exist_ok=True)
    for name in CASES:
        (EVENTS / f"{name}.json").write_text(json.dumps(build(name), indent=2) + "\n")
    for name, event in (DIRECT | ROTATION).items():
        (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {len(CASES) + len(DIRECT) + len(ROTATION)} events to {EVENTS}")


if __name__ == "__main__":
    main()
