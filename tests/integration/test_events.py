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
    "videos-token.empty-object": (200, []),
    # one error per access rule: fastjsonschema stops at the first problem inside an item
    "videos-token.invalid-fields": (400, ["/exp", "/downloadable", "/colour", "/accessRules/0/ip"]),
    "videos-token.not-json": (400, [""]),
    "videos-token.bad-identifier": (400, ["/identifier"]),
    "account-token.valid": (200, []),
    "account-token.defaults": (200, []),
    "account-token.other-account": (403, ["/account_id"]),
    "account-token.invalid-signing-key": (400, ["/pem"]),
}


def test_every_event_file_has_an_expectation_and_is_current():
    assert sorted(p.stem for p in EVENTS.glob("*.json")) == sorted(EXPECTED)
    for name in EXPECTED:
        assert json.loads((EVENTS / f"{name}.json").read_text()) == make_events.build(name), (
            f"run `make events` ({name})"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_through_the_handler(app, double, name):
    status, pointers = EXPECTED[name]
    answer = app.invoke(json.loads((EVENTS / f"{name}.json").read_text()))
    assert answer.status == status, answer.body
    assert sorted(p for p in answer.error_pointers) == sorted(pointers)
    assert len(double.token_requests()) == (1 if status == 200 else 0)
