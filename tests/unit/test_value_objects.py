"""The value objects made per token (`domain.model.value_object`): immutable to the type checker,
plain slotted dataclasses at run time, hashed by value as frozen ones are."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api as mypy_api

from stream_tokens.domain.model import SignedToken, TokenRequest
from stream_tokens.domain.urls import signed_urls

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_refuses_any_assignment_to_their_fields(tmp_path):
    snippet = tmp_path / "mutates.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from stream_tokens.domain.model import SignedToken, TokenRequest
            from stream_tokens.domain.urls import signed_urls

            request = TokenRequest("a" * 32, 1, 2)
            request.exp = 5
            token = SignedToken("t", "v", 1, signed_urls("c", False))
            token.token = "x"
            token.urls.origin = "y"
            """
        )
    )
    report, _, status = mypy_api.run(["--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", str(snippet)])
    assert status == 1
    refused = sorted(line.split(": error: ")[1] for line in report.splitlines() if ": error: " in line)
    assert refused == [
        'Property "exp" defined in "TokenRequest" is read-only  [misc]',
        'Property "origin" defined in "SignedUrls" is read-only  [misc]',
        'Property "token" defined in "SignedToken" is read-only  [misc]',
    ]


def test_at_run_time_they_are_slotted_and_hashed_by_value():
    one, same = (TokenRequest("a" * 32, 1, 2) for _ in range(2))
    assert one == same
    assert hash(one) == hash(same)
    assert len({one, same}) == 1
    assert not hasattr(one, "__dict__")
    token = SignedToken("t", "v", 1, signed_urls("c", False))
    assert hash(token) == hash(SignedToken("t", "v", 1, signed_urls("c", False)))
