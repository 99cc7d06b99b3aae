"""Write events/: API Gateway HTTP API (v2) events for both routes, for tests and `sam local invoke -e`.

`make events` regenerates them; tests/integration/test_events.py runs every one through the handler.
The account is Cloudflare's documentation example, the one `make run` and the tests configure.
"""

from __future__ import annotations

import json

from .apigw import http_api_event
from .run import EXAMPLE_ACCOUNT, EXAMPLE_VIDEO
from .template import ROOT, routes

EVENTS = ROOT / "events"
ACCOUNT_PATH = f"/accounts/{EXAMPLE_ACCOUNT}/stream/{EXAMPLE_VIDEO}/token"
VIDEO_PATH = f"/videos/{EXAMPLE_VIDEO}/token"
RULES = [
    {"type": "ip.geoip.country", "action": "block", "country": ["US", "MX"]},
    {"type": "ip.src", "action": "allow", "ip": ["93.184.216.0/24", "2400:cb00::/32"]},
    {"type": "any", "action": "block"},
]

CASES: dict[str, tuple[str, str | None]] = {
    "videos-token.valid": (VIDEO_PATH, json.dumps({"downloadable": True, "accessRules": RULES})),
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
    print(f"wrote {len(CASES)} events to {EVENTS}")


if __name__ == "__main__":
    main()
