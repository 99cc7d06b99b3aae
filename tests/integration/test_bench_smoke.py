"""`make bench` cannot rot: a tiny run of the benchmark, its worker and both peers, checked for
structure and for what must hold whatever the machine's speed (never for speed itself)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

from benchmarks import run
from localdev.standins.signing_keys import secret_fields
from tests.support.keys import sensitive_key
from tests.support.log_hygiene import sensitive


def test_the_benchmark_runs_every_contender_and_reports_every_figure():
    options = run.Options(cold_runs=1, warm=20, warm_up=3, rate_seconds=0.2, rounds=1, memory_invocations=40, pin=False)
    results = run.measure(options, api_token=sensitive(secrets.token_urlsafe(30)), signing_key=sensitive_key())

    names = [c.name for c in run.CONTENDERS]
    assert list(results["contenders"]) == names
    for name in names:
        cold, warm = results["cold_start"][name], results["warm"][name]
        assert cold["runs"] == 1
        assert 0 < cold["import_ms"] < cold["first_response_ms"] < cold["process_to_first_response_ms"]
        assert cold["cpu_ms"] > 0
        assert 10 * 1024 < cold["peak_rss_kib"] <= warm["peak_rss_kib"]
        assert warm["n"] == 20
        assert warm["failed"] == 0
        assert 0 < warm["p50_ms"] <= warm["p99_ms"]
        assert warm["cpu_mean_ms"] > 0
        assert warm["invocations"] == (40 if name in run.MEMORY_MODES else 23)
    for name, cold in results["cold_start_as_deployed"].items():  # when `sam build` output is at hand
        assert name in names
        assert cold["runs"] == 1
        assert cold["process_to_first_response_ms"] > 0
    # what each design does per warm request, whatever the speed
    assert results["warm"]["peer-a"]["secret_reads_per_1000"] == 1000
    assert results["warm"]["peer-a"]["new_connections_per_1000"] == 1000
    for name in ("ours-local", "ours-api", "ours-claims", "peer-b"):
        assert results["warm"][name]["secret_reads_per_1000"] == 0
        assert results["warm"][name]["new_connections_per_1000"] == 0
    through = results["throughput"]
    assert through["failed"] == 0
    assert through["batch_tokens_per_second"] > 0
    assert 0 < through["share_of_raw"] < 1.5
    assert through["cpu_per_token_ms"] > 0
    # on Lambda: the same CPU takes longer with less memory, and costs the same up to one vCPU
    estimates = run.lambda_estimates(results)
    assert list(estimates) == ["512", "1024", "1769"]
    small, large = estimates["512"], estimates["1769"]
    assert small["cold_start_cpu_ms"]["ours-local"] > large["cold_start_cpu_ms"]["ours-local"] > 0
    assert small["warm_request_cpu_ms"]["peer-a"] > large["warm_request_cpu_ms"]["peer-a"] > 0
    assert small["batch_ms_per_token"] > large["batch_ms_per_token"] > 0
    per_million = [e["batch_gb_seconds_per_million_tokens"] for e in estimates.values()]
    assert max(per_million) - min(per_million) < 1e-6 * max(per_million)

    verdicts = run.goals(results)
    assert [v["goal"] for v in verdicts] == [g.what for g in run.GOALS]
    assert all(v["met"] in (True, False, None) for v in verdicts)
    table = run.table(results)
    assert all(label in table for label in results["contenders"].values())


def test_the_instruction_count_measures_a_batch_that_issues_every_token(tmp_path):
    """`python -m benchmarks.instructions` (valgrind) measures this child: it must run the whole
    batch path and issue every token (it asserts so), or its count would mean nothing."""
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(secret_fields(sensitive_key())))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--child", "2", str(key_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    issued = [json.loads(line) for line in done.stdout.splitlines() if '"message":"token issued"' in line]
    assert len(issued) == 300  # the warm-up batch and two measured, a line per token
