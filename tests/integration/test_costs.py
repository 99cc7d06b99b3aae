"""The documented cost figures (docs/operating/costs.md) come from `make costs` (operations/costs.py):
the log bytes each token writes are measured through the real handler, and the page's totals are what
it computes."""

from __future__ import annotations

import re
from pathlib import Path

from operations import costs

ROOT = Path(__file__).resolve().parents[2]


def test_log_bytes_per_token_are_measured_and_the_docs_show_what_make_costs_computes():
    measured = costs.measure()
    local, api, batch = (measured[m]["log_bytes"] for m in costs.MODES)
    assert 300 < local < api < 3000  # a JSON line and the embedded metrics; API mode adds Cloudflare's latency
    assert 200 < batch < local / 1.4  # a batch token's own audit line; one metric set for all its tokens
    assert all(1000 < measured[m]["answer_bytes"] < 6000 for m in costs.MODES)
    computed = [sum(costs.per_million(m, measured[m]).values()) for m in costs.MODES]
    section = ROOT.joinpath("docs", "operating", "costs.md").read_text()
    totals = re.search(r"\| \*\*total\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \|", section)
    assert totals, "docs/operating/costs.md's table (make costs) is missing"
    for documented, now in zip(map(float, totals.groups()), computed, strict=True):
        assert abs(documented - now) <= 0.05 * now + 0.01, (documented, now)  # log lines vary by a few digits
    for price in costs.PRICES.values():
        assert price.source in section
