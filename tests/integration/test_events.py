"""Every event in events/ runs through the real handler with the answer its name promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localdev import make_events

EVENTS = Path(__file__).resolve().parents[2] / "events"
EXPECTED = {
    "videos-token.valid": (200, []),
    "videos-token.defaults": (200, []),
    "videos-token.downloadable-refused": (403, ["/downloadable"]),
    "videos-token.empty-object": (200, []),
    # one check per access rule: fastjsonschema stops at its first problem (here: what is required)
    "videos-token.invalid-fields": (
        400,
        ["/exp", "/downloadable", "/colour", "/accessRules/0/action", "/accessRules/0/ip"],
    ),
    "videos-token.not-json": (400, [""]),
    "videos-token.bad-identifier": (400, ["/identifier"]),
    "account-token.valid": (200, []),
    "account-token.defaults": (200, []),
    "account-token.other-account": (403, ["/account_id"]),
    "account-token.invalid-signing-key": (400, ["/pem"]),
    "videos-tokens.batch": (200, []),  # per-item results: tests/integration/test_direct_and_batch.py
}


def test_every_event_file_has_an_expectation_and_is_current():
    """API Gateway events are run below; the direct function's in test_direct_and_batch.py, the
    rotation function's in test_rotation.py."""
    assert sorted(p.stem for p in EVENTS.glob("*.json")) == sorted(
        [*EXPECTED, *make_events.DIRECT, *make_events.ROTATION]
    )
    for name in EXPECTED:
        current = make_events.build(name)
        assert json.loads((EVENTS / f"{name}.json").read_text()) == current, f"run `make events` ({name})"
    for name, event in (make_events.DIRECT | make_events.ROTATION).items():
        assert json.loads((EVENTS / f"{name}.json").read_text()) == event, f"run `make events` ({name})"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_through_the_handler(app, double, name):
    status, pointers = EXPECTED[name]
    answer = app.invoke(json.loads((EVENTS / f"{name}.json").read_text()))
    assert answer.status == status, answer.body
    assert sorted(p for p in answer.error_pointers) == sorted(pointers)
    assert len(double.token_requests()) == (0 if status != 200 else 2 if "tokens" in name else 1)
    if status == 200:
        from tests.support.log_hygiene import sensitive

        results = answer.body["result"] if isinstance(answer.body["result"], list) else [answer.body]
        for item in results:
            if item["success"]:
                sensitive(item["result"]["token"])
