"""`make bench`: the package against the alternatives a user would pick, all measured in one run.

Contenders (every one gets the same API Gateway v2 events, the same secret in moto's Secrets
Manager and the same Cloudflare double, all on loopback, in this process; ours also counts its
calls to Cloudflare in the budget table, in moto's DynamoDB):
  ours-local  functions/mint_http with the layer, SIGNING_MODE=auto and a signing key in the secret
  ours-api    the same with SIGNING_MODE=api: every token from the Cloudflare double
  ours-claims ours-local behind a JWT authorizer (AUTH_MODE=JWT), under the built-in claim-based
              policy: each request's caller and its stream_videos claim decide (no quota: a quota
              is a DynamoDB write per request, docs/policy.md)
  peer-a      benchmarks/peers/naive: boto3 get_secret_value per call, requests.post without a session
  peer-b      benchmarks/peers/cloudflare_sdk: Cloudflare's SDK, Powertools secret caching

Each measurement runs the contender in a fresh process (benchmarks/worker.py) pinned to one CPU,
while moto and the double answer from this process on another:
  cold start   process start to the first successful answer (median of BENCH_COLD_RUNS fresh
               processes, contenders interleaved), the entry module's import time alone, the
               process's CPU time and peak RSS at that answer; also from the `sam build` output
               (as deployed: its shipped bytecode, nothing written);
  warm         p50 / p99 of BENCH_WARM invocations through the handler after a warm-up, and the
               Secrets Manager calls and new upstream TCP connections they caused (per 1,000);
               for our two modes, the peak RSS once BENCH_MEMORY_INVOCATIONS have run;
  on Lambda    an estimate from the CPU time measured here (see lambda_estimates);
  throughput   local-signing tokens per second through the batch route (100 tokens a request)
               against RSA-2048 signatures per second from `cryptography` in the same process,
               alternated BENCH_ROUNDS times;
  size         the zipped `sam build` output: the function and its own layer against peer (b)'s
               function built by `sam build` in the same way (make bench builds both first).
It prints a table and writes every figure to bench-results.json. The double answers at once (one
token signed per video, reused) so that latencies are the contenders' own.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localdev.standins import stack, template
from localdev.standins.apigw import http_api_event, iam_authorizer, jwt_authorizer
from localdev.standins.cloudflare_double import CloudflareDouble
from localdev.standins.examples import ACCOUNT, VIDEO
from localdev.standins.native_overlay import native_overlay, strip_tool, stripped
from localdev.standins.signing_keys import new_signing_key, secret_fields

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = ROOT / "bench-results.json"
CUSTOMER_CODE = "bench"
BATCH_SIZE = 100
HIDDEN_MODULES = ["awscrt", "OpenSSL"]  # not on Lambda's Python runtime (see worker.Hidden)
BUILDS = {
    "ours": [ROOT / ".aws-sam" / "build" / "MintFunction", ROOT / ".aws-sam" / "build" / "StreamTokensLayer"],
    "peer-b": [ROOT / ".aws-sam" / "bench-peer-sdk" / "CloudflareSdkFunction"],
}
BUILD_OF = {"ours-local": "ours", "ours-api": "ours", "ours-claims": "ours", "peer-b": "peer-b"}


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    entry: Path
    path: list[Path]
    signing_mode: str = "api"
    env: dict[str, str] = field(default_factory=dict)
    events: str = "iam"
    """Which callers its events carry (bench_events): an IAM caller, or a JWT one."""


def ours(
    name: str, label: str, signing_mode: str = "api", env: dict[str, str] | None = None, events: str = "iam"
) -> Contender:
    """The HTTP function with its layer, as `make run` and the tests load it."""
    source = [ROOT / "functions" / "mint_http", ROOT / "layers" / "stream_tokens"]
    return Contender(name, label, source[0] / "app.py", source, signing_mode, env or {}, events)


CONTENDERS = [
    ours("ours-local", "ours, local signing", "auto"),
    ours("ours-api", "ours, Cloudflare API"),
    ours(
        "ours-claims",
        "ours, local signing, JWT claim policy",
        "auto",
        {"AUTH_MODE": "JWT", "JWT_QUOTA_TOKENS": "0"},
        "jwt",
    ),
    Contender("peer-a", "peer a: boto3 + requests", BENCH / "peers" / "naive" / "app.py", [BENCH / "peers" / "naive"]),
    Contender(
        "peer-b",
        "peer b: Cloudflare SDK + Powertools",
        BENCH / "peers" / "cloudflare_sdk" / "app.py",
        [BENCH / "peers" / "cloudflare_sdk"],
    ),
]


@dataclass(frozen=True)
class Options:
    cold_runs: int = 7
    warm: int = 1000
    warm_up: int = 100
    rate_seconds: float = 1.0
    rounds: int = 7
    memory_invocations: int = 10_000  # warm invocations of our modes before their peak RSS is read
    timeout: float = 120.0
    pin: bool = True  # workers on one CPU, moto and the double on another (when there are two)

    @classmethod
    def from_env(cls) -> Options:
        env = os.environ
        return cls(
            cold_runs=int(env.get("BENCH_COLD_RUNS", cls.cold_runs)),
            warm=int(env.get("BENCH_WARM", cls.warm)),
            rate_seconds=float(env.get("BENCH_RATE_SECONDS", cls.rate_seconds)),
            rounds=int(env.get("BENCH_ROUNDS", cls.rounds)),
            memory_invocations=int(env.get("BENCH_MEMORY_INVOCATIONS", cls.memory_invocations)),
        )


@dataclass
class Loopback:
    """moto's Secrets Manager (counted), the Cloudflare double and the secret, on 127.0.0.1."""

    moto: stack.AwsCalls
    double: CloudflareDouble
    env: dict[str, str]
    events: dict[str, Path]

    def counters(self) -> tuple[int, int]:
        return self.moto.secret_reads(), self.double.connections


@contextmanager
def loopback(api_token: str, signing_key: dict[str, Any], workdir: Path) -> Iterator[Loopback]:
    server, endpoint = stack.start_moto()
    counting = stack.count_calls(server)
    double = CloudflareDouble(ACCOUNT, api_token=api_token, record=False, instant=True).start()
    try:
        secret = {"account_id": ACCOUNT, "api_token": api_token} | secret_fields(signing_key)
        env = stack.FAKE_AWS_ENV | template.function_environment(
            {
                "CLOUDFLARE_SECRET_ARN": stack.create_secret(endpoint, f"bench-{secrets.token_hex(4)}", secret),
                "STREAM_CUSTOMER_CODE": CUSTOMER_CODE,
                "CLOUDFLARE_BASE_URL": double.base_url,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
                "UPSTREAM_CALLS_PER_5_MINUTES": "1000000000",  # the double has no rate limit to protect
                # the deployment-wide call budget, in moto's DynamoDB as template.yaml declares it
                **stack.create_budget_table(endpoint, f"bench-{secrets.token_hex(4)}"),
            }
        )
        events = {callers: workdir / f"events-{callers}.json" for callers in ("iam", "jwt")}
        for callers, path in events.items():
            path.write_text(json.dumps(bench_events(callers)))
        yield Loopback(counting, double, env, events)
    finally:
        double.stop()
        server.stop()


def bench_events(callers: str) -> dict[str, Any]:
    """The same request for every contender (a token for half an hour, which every policy here
    allows), and a batch of BATCH_SIZE for the throughput; from an IAM caller, or a JWT caller
    whose claim lists the videos."""
    exp = int(time.time()) + 1800
    videos = [f"{i:032x}" for i in range(BATCH_SIZE)]
    authorizer = (
        jwt_authorizer({"sub": "bench-viewer", "stream_videos": " ".join([VIDEO, *videos])}, None)
        if callers == "jwt"
        else iam_authorizer()
    )
    body = json.dumps({"exp": exp})
    single = http_api_event("POST", f"/videos/{VIDEO}/token", body, authorizer=authorizer)
    items = [{"identifier": video, "exp": exp} for video in videos]
    batch = http_api_event("POST", "/videos/tokens", json.dumps({"requests": items}), authorizer=authorizer)
    return {"single": single, "batch": batch}


def cpus() -> tuple[int | None, int | None]:
    """(the CPU for this process, the CPU for the workers): apart when there are two or more."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[-1]) if len(allowed) > 1 else (None, None)


@dataclass
class Worker:
    """A contender in a fresh process (benchmarks/worker.py)."""

    contender: Contender
    lab: Loopback
    cpu: int | None
    timeout: float
    cold: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = {
            "entry": str(self.contender.entry),
            "path": [str(p) for p in self.contender.path],
            "events": str(self.lab.events[self.contender.events]),
            "hide": HIDDEN_MODULES,
            "cpu": self.cpu,
        }
        env = {
            "PATH": os.environ.get("PATH", ""),
            **self.lab.env,
            "SIGNING_MODE": self.contender.signing_mode,
            **self.contender.env,
        }
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "worker.py"), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.cold = self._read()
        self.cold["process_to_first_response_ms"] = (time.perf_counter() - started) * 1000

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(self.timeout)
            raise RuntimeError(f"{self.contender.name}: the worker stopped (exit {self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"do": "exit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(self.timeout)


@contextmanager
def worker(contender: Contender, lab: Loopback, cpu: int | None, options: Options) -> Iterator[Worker]:
    running = Worker(contender, lab, cpu, options.timeout)
    try:
        yield running
    finally:
        running.close()
        if running.process.poll() is None:
            running.process.kill()


def measure(options: Options, *, api_token: str, signing_key: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the benchmark, as a JSON-ready dict."""
    mine, theirs = cpus() if options.pin else (None, None)
    if mine is not None:
        os.sched_setaffinity(0, {mine})
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as workdir,
        loopback(api_token, signing_key, Path(workdir)) as lab,
    ):
        for contender in CONTENDERS:  # compile every module once, so no cold run pays for bytecode
            with worker(contender, lab, theirs, options):
                pass
        as_deployed = {c.name: d for c in CONTENDERS if (d := deployed(c, Path(workdir))) is not None}
        # each contender right before its deployed self: the two figures compared are taken side by side
        order = [each for c in CONTENDERS for each in (c, as_deployed.get(c.name)) if each is not None]
        cold: dict[str, list[dict[str, Any]]] = {c.name: [] for c in order}
        for _ in range(options.cold_runs):
            for contender in order:
                with worker(contender, lab, theirs, options) as fresh:
                    cold[contender.name].append(fresh.cold)
        warm = {}
        for contender in CONTENDERS:
            with worker(contender, lab, theirs, options) as running:
                running.ask(do="warm", n=options.warm_up, event="single")
                reads, connections = lab.counters()
                figures = running.ask(do="warm", n=options.warm, event="single")
                reads_after, connections_after = lab.counters()
                figures["secret_reads_per_1000"] = (reads_after - reads) * 1000 / options.warm
                figures["new_connections_per_1000"] = (connections_after - connections) * 1000 / options.warm
                figures["invocations"] = options.warm_up + options.warm
                if contender.name in MEMORY_MODES and options.memory_invocations > figures["invocations"]:
                    rest = running.ask(do="warm", n=options.memory_invocations - figures["invocations"], event="single")
                    figures["failed"] += rest["failed"]
                    figures["peak_rss_kib"], figures["invocations"] = rest["peak_rss_kib"], options.memory_invocations
                warm[contender.name] = figures
        throughput = signing_throughput(lab, theirs, options)
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "worker_cpu": theirs},
        "options": options.__dict__,
        "contenders": {c.name: c.label for c in CONTENDERS},
        "cold_start": {c.name: summary(cold[c.name]) for c in CONTENDERS},
        "cold_start_as_deployed": {name: summary(cold[d.name]) for name, d in as_deployed.items()},
        "warm": warm,
        "throughput": throughput,
        "size": sizes(),
    }


DEPLOYED = "-as-deployed"
MEMORY_MODES = ("ours-local", "ours-api")


def deployed(contender: Contender, workdir: Path) -> Contender | None:
    """The contender run from its `sam build` output as Lambda runs it: its own code (the function
    folder and its layer) with the bytecode the build ships and nothing else (Lambda's code
    directories are read-only, so nothing compiled at a cold start is kept: PYTHONDONTWRITEBYTECODE).
    Our build ships bytecode for Python 3.13; peer (b)'s (SAM's Python builder) ships none, so its
    every cold start compiles what it imports. boto3, Powertools and the standard library stay
    compiled, as the runtime and AWS's layer ship them. Foreign (arm64) extensions are replaced by
    this machine's build of the same versions (stripped, when the build stripped its own)."""
    folders = BUILDS.get(BUILD_OF.get(contender.name, ""), [])
    if not folders or not all(folder.is_dir() for folder in folders):
        return None
    function_dir, *layers = folders
    path: list[Path] = []
    for folder in [function_dir, *(layer / "python" for layer in layers)]:
        overlay = workdir / f"native-{contender.name}-{len(path)}"
        overlay.mkdir()
        path += [native_overlay(folder, overlay, strip=strip_tool() if stripped(folder) else ""), folder]
    return Contender(
        contender.name + DEPLOYED,
        contender.label + ", as deployed",
        function_dir / "app.py",
        path,
        contender.signing_mode,
        contender.env | {"PYTHONDONTWRITEBYTECODE": "1"},
        contender.events,
    )


def signing_throughput(lab: Loopback, cpu: int | None, options: Options) -> dict[str, Any]:
    """Tokens per second through the batch route against raw RSA-2048 signatures on the same core,
    interleaved call by call (the worker's `rate`); the median of BENCH_ROUNDS rounds."""
    rounds = []
    with worker(CONTENDERS[0], lab, cpu, options) as running:
        running.ask(do="rate", seconds=min(options.rate_seconds, 0.5), event="batch")  # warm-up
        rounds = [running.ask(do="rate", seconds=options.rate_seconds, event="batch") for _ in range(options.rounds)]
    shares = [r["per_second"] / r["raw_per_second"] for r in rounds]
    return {
        "batch_tokens_per_second": statistics.median(r["per_second"] for r in rounds),
        "rsa2048_signatures_per_second": statistics.median(r["raw_per_second"] for r in rounds),
        "share_of_raw": statistics.median(shares),
        "rounds": {"share": shares},
        "failed": sum(r["failed"] for r in rounds),
        "cpu_per_token_ms": statistics.median(r["cpu_per_token_ms"] for r in rounds),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: statistics.median(run[name] for run in runs)
        for name in (
            "process_to_first_response_ms",
            "first_response_ms",
            "import_ms",
            "handler_first_ms",
            "cpu_ms",
            "peak_rss_kib",
        )
    } | {"runs": len(runs)}


LAMBDA_MEMORY_MB = (512, 1024, 1769)
ONE_VCPU_MB = 1769  # "At 1,769 MB, a function has the equivalent of one vCPU" (AWS Lambda docs)


def lambda_estimates(results: dict[str, Any]) -> dict[str, Any]:
    """What the measured CPU time would take on Lambda at each memory size: an estimate.

    Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB; a single-threaded process gets
    at most one. So C ms of CPU measured here take C * 1769 / M ms at M MB (M <= 1769), on the
    assumption that one of Lambda's vCPUs (arm64) is as fast as one core of this machine. Only CPU
    time is scaled: the network waits on Lambda (Secrets Manager's answer at a cold start,
    Cloudflare's in API mode) come on top, and are not measured here (on this shared machine the
    wall time beyond the CPU time is mostly waiting for a core). Per token: the batch route's CPU
    time per token at M MB, and the compute billed for a million tokens (duration * M / 1024
    GB-seconds), the same at every M <= 1769 for CPU-bound work.
    """
    cold, warm, through = results["cold_start"], results["warm"], results["throughput"]
    estimates: dict[str, Any] = {}
    for memory in LAMBDA_MEMORY_MB:
        slower = ONE_VCPU_MB / min(memory, ONE_VCPU_MB)

        per_token_ms = through["cpu_per_token_ms"] * slower
        estimates[str(memory)] = {
            "cold_start_cpu_ms": {name: cold[name]["cpu_ms"] * slower for name in cold},
            "warm_request_cpu_ms": {name: warm[name]["cpu_mean_ms"] * slower for name in warm},
            "batch_ms_per_token": per_token_ms,
            "batch_gb_seconds_per_million_tokens": per_token_ms / 1000 * memory / 1024 * 1_000_000,
        }
    return estimates


def zipped_size(folder: Path) -> int:
    """Bytes of `folder` zipped as `sam deploy` uploads it (deflate, every file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return len(buffer.getvalue())


def sizes() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, folders in BUILDS.items():
        if all(folder.is_dir() for folder in folders):
            found[name] = {folder.name: zipped_size(folder) for folder in folders}
            found[name]["total"] = sum(found[name].values())
    return found


# -- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Goal:
    what: str
    figure: Callable[[dict[str, Any]], float]
    limit: float
    at_least: bool = False  # met when the figure is at least the limit (else: at most)


def _figure(section: str, contender: str, name: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r[section][contender][name])


def _ratio(section: str, ours: str, peer: str, name: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r[section][ours][name] / r[section][peer][name])


GOALS = [
    Goal("warm API mode p50 / peer a's", _ratio("warm", "ours-api", "peer-a", "p50_ms"), 0.5),
    Goal(
        "secret reads per 1,000 warm requests (API mode)", lambda r: r["warm"]["ours-api"]["secret_reads_per_1000"], 0
    ),
    Goal("new connections per 1,000 warm (API mode)", lambda r: r["warm"]["ours-api"]["new_connections_per_1000"], 0),
    Goal("local signing warm p50, ms", lambda r: r["warm"]["ours-local"]["p50_ms"], 1.0),
    Goal("batch throughput / raw RSA-2048 rate", lambda r: r["throughput"]["share_of_raw"], 0.90, at_least=True),
    Goal(
        "cold start, local signing / peer a's",
        _ratio("cold_start", "ours-local", "peer-a", "process_to_first_response_ms"),
        1.0,
    ),
    Goal(
        "cold start as deployed / cached, local signing",
        lambda r: float(
            r["cold_start_as_deployed"]["ours-local"]["process_to_first_response_ms"]
            / r["cold_start"]["ours-local"]["process_to_first_response_ms"]
        ),
        1.05,
    ),
    Goal("deployment size / peer b's", _ratio("size", "ours", "peer-b", "total"), 0.5),
    Goal(
        "cold start, API mode / peer a's",
        _ratio("cold_start", "ours-api", "peer-a", "process_to_first_response_ms"),
        1.0,
    ),
    Goal("claim policy warm p50 / local signing's", _ratio("warm", "ours-claims", "ours-local", "p50_ms"), 1.10),
    Goal(
        "claim policy cold start / local signing's",
        _ratio("cold_start", "ours-claims", "ours-local", "process_to_first_response_ms"),
        1.10,
    ),
]


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for goal in GOALS:
        try:
            value = goal.figure(results)
        except KeyError:  # e.g. sizes when nothing was built
            verdicts.append({"goal": goal.what, "value": None, "limit": goal.limit, "met": None})
            continue
        met = value >= goal.limit if goal.at_least else value <= goal.limit
        verdicts.append({"goal": goal.what, "value": value, "limit": goal.limit, "met": met})
    return verdicts


def table(results: dict[str, Any]) -> str:
    names = list(results["contenders"])
    cold, warm, deployed_cold = results["cold_start"], results["warm"], results["cold_start_as_deployed"]

    def row(what: str, values: list[str]) -> str:
        return f"| {what} | " + " | ".join(values) + " |"

    def each(pick: Callable[[str], float | None], fmt: str = "{:.1f}") -> list[str]:
        return [("—" if (v := pick(n)) is None else fmt.format(v)) for n in names]

    size = results["size"]
    lines = [
        row("", [results["contenders"][n] for n in names]),
        row("---", ["---:"] * len(names)),
        row("cold start to first answer, ms", each(lambda n: cold[n]["process_to_first_response_ms"])),
        row("entry module import, ms", each(lambda n: cold[n]["import_ms"])),
        row("CPU time to first answer, ms", each(lambda n: cold[n]["cpu_ms"])),
        row(
            "cold start as deployed (the build's own bytecode only), ms",
            each(lambda n: deployed_cold.get(n, {}).get("process_to_first_response_ms")),
        ),
        row("warm p50, ms", each(lambda n: warm[n]["p50_ms"], "{:.3f}")),
        row("warm p99, ms", each(lambda n: warm[n]["p99_ms"], "{:.3f}")),
        row("secret reads per 1,000 warm requests", each(lambda n: warm[n]["secret_reads_per_1000"], "{:.0f}")),
        row("new upstream connections per 1,000", each(lambda n: warm[n]["new_connections_per_1000"], "{:.0f}")),
        row("peak RSS after the cold start, MiB", each(lambda n: cold[n]["peak_rss_kib"] / 1024)),
        row(
            f"peak RSS after {results['options']['memory_invocations']:,} warm invocations, MiB",
            each(lambda n: warm[n]["peak_rss_kib"] / 1024 if n in MEMORY_MODES else None),
        ),
        row(
            "deployment zip (function + own layer), KiB",
            each(lambda n: size.get(BUILD_OF.get(n, ""), {}).get("total", 0) / 1024 or None, "{:.0f}"),
        ),
    ]
    through = results["throughput"]
    lines += [
        "",
        f"Local signing through the batch route: {through['batch_tokens_per_second']:.0f} tokens/s on one core; "
        f"RSA-2048 signing with `cryptography` alone: {through['rsa2048_signatures_per_second']:.0f}/s "
        f"({through['share_of_raw']:.1%} of the physical limit); "
        f"{through['cpu_per_token_ms'] * 1000:.0f} µs of CPU per token.",
        "",
        *lambda_table(results),
        "",
        row("goal", ["measured", "limit", "met"]),
        row("---", ["---:", "---:", "---"]),
    ]
    for verdict in goals(results):
        value = "—" if verdict["value"] is None else f"{verdict['value']:.3g}"
        met = {True: "yes", False: "**no**", None: "not measured"}[verdict["met"]]
        lines.append(row(verdict["goal"], [value, f"{verdict['limit']:g}", met]))
    return "\n".join(lines)


def lambda_table(results: dict[str, Any]) -> list[str]:
    """The estimates on Lambda (see lambda_estimates), a column per memory size."""
    estimates = lambda_estimates(results)
    sizes = [str(m) for m in LAMBDA_MEMORY_MB]
    labels = results["contenders"]

    def row(what: str, values: list[str]) -> str:
        return f"| {what} | " + " | ".join(values) + " |"

    lines = [
        row(
            "estimate on Lambda: CPU time here * 1769 / MB (network waits not included)",
            [f"{m:,} MB" for m in LAMBDA_MEMORY_MB],
        ),
        row("---", ["---:"] * len(sizes)),
    ]
    for name in ("ours-local", "ours-api", "peer-a"):
        lines.append(
            row(f"cold start, {labels[name]}, ms", [f"{estimates[m]['cold_start_cpu_ms'][name]:.0f}" for m in sizes])
        )
    for name in MEMORY_MODES:
        lines.append(
            row(
                f"warm request, {labels[name]}, ms", [f"{estimates[m]['warm_request_cpu_ms'][name]:.2f}" for m in sizes]
            )
        )
    lines += [
        row("batch route, ms per token", [f"{estimates[m]['batch_ms_per_token']:.3f}" for m in sizes]),
        row(
            "batch route, GB-s per million tokens",
            [f"{estimates[m]['batch_gb_seconds_per_million_tokens']:.0f}" for m in sizes],
        ),
    ]
    return lines


def main() -> int:
    options = Options.from_env()
    started = time.monotonic()
    results = measure(options, api_token=secrets.token_urlsafe(30), signing_key=new_signing_key())
    results["goals"] = goals(results)
    results["lambda_estimates"] = lambda_estimates(results)
    results["seconds"] = time.monotonic() - started
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\n{results['seconds']:.0f} s; figures in {RESULTS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
