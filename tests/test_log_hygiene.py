"""No API token, private key or token value in any line the suite logged or printed."""

from __future__ import annotations

import pytest

from tests.support.log_hygiene import SENSITIVE, SUITE_OUTPUT, leaked


@pytest.mark.last
def test_no_secret_reached_any_log_line():
    text = "\n".join(SUITE_OUTPUT)
    if not SENSITIVE:
        pytest.skip("run with the rest of the suite: nothing sensitive was created in this run")
    assert '"message":"token issued"' in text, "the suite's log output was not collected"
    leaks = sorted(value[:12] + "..." for value in leaked(SENSITIVE, text))
    assert leaks == [], f"{len(leaks)} sensitive values appear in log output: {leaks}"
    assert len(SENSITIVE) > 10
