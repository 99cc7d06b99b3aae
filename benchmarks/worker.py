"""One contender in a fresh process, driven by `benchmarks.run` (never imported by it).

argv[1] is a JSON spec: the entry module's file, the folders to put on sys.path (as Lambda puts the
function and its layers there), the events file, the module names to hide and the CPU to run on.
The process imports the entry module, answers the first event (that is the cold start: its wall
time, the process's CPU time and peak RSS are reported), then obeys
commands read from stdin, one JSON line each, and answers each with one JSON line on the original
stdout. Everything the handler prints (log lines) goes to /dev/null.

    {"do": "warm", "n": 1000, "event": "single"}  -> latencies of n invocations (ms: p50, p99, mean),
                                                      their mean CPU time and the peak RSS so far
    {"do": "rate", "seconds": 1, "event": "batch"} -> tokens per second through the handler, and
                                                      RSA-2048 signatures per second interleaved with it,
                                                      and the handler's CPU time per token
    {"do": "exit"}
"""

from __future__ import annotations

import json
import os
import sys
import time

STARTED = time.perf_counter()

import importlib.util  # noqa: E402
import logging  # noqa: E402  (every contender imports it; Lambda's runtime has it loaded)
from typing import Any  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Hidden:
    """Makes modules unimportable, as they are on Lambda's runtime (boto3 there has no awscrt,
    and no pyOpenSSL for urllib3): the dev environment has them for the SAM CLI."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".", maxsplit=1)[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


class Context:
    """What Lambda passes as `context` (the harness imports nothing more before the first answer)."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.deadline = time.monotonic() + 15

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tokens_in(answer: dict[str, Any]) -> int:
    """How many tokens a 200 answer carries (one, or one per successful batch item); 0 otherwise."""
    if answer.get("statusCode") != 200:
        return 0
    result = json.loads(answer["body"])
    result = result.get("result", result)
    if isinstance(result, list):
        return sum(1 for item in result if item.get("success") is True and item["result"].get("token"))
    return 1 if result.get("token") else 0


def main() -> None:
    spec = json.loads(sys.argv[1])
    report = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    sys.meta_path.insert(0, Hidden(spec.get("hide", [])))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)  # as Lambda's runtime logs
    sys.path[:0] = spec["path"]
    with open(spec["events"]) as file:
        events = json.load(file)

    began = time.perf_counter()
    module_spec = importlib.util.spec_from_file_location("app", spec["entry"])
    assert module_spec
    assert module_spec.loader
    app = importlib.util.module_from_spec(module_spec)
    sys.modules["app"] = app
    module_spec.loader.exec_module(app)
    imported = time.perf_counter()
    first = app.lambda_handler(events["single"], Context())
    answered = time.perf_counter()
    cpu = time.process_time()  # CPU time of the whole process so far: interpreter start included
    if tokens_in(first) != 1:
        raise SystemExit(f"the first answer is not a token: status {first.get('statusCode')}")
    report.write(
        json.dumps(
            {
                "import_ms": (imported - began) * 1000,
                "first_response_ms": (answered - STARTED) * 1000,
                "handler_first_ms": (answered - imported) * 1000,
                "cpu_ms": cpu * 1000,
                "peak_rss_kib": peak_rss_kib(),
            }
        )
        + "\n"
    )
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "exit":
            break
        handlers = {"warm": warm, "rate": rate}
        report.write(json.dumps(handlers[command["do"]](app, events, command)) + "\n")


def peak_rss_kib() -> int:
    """The process's peak resident memory so far, in KiB: VmHWM of /proc/self/status (getrusage's
    ru_maxrss would do, but Linux carries it over from the parent across fork and exec)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def warm(app: Any, events: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    import statistics

    event, samples, failed, cpu = events[command["event"]], [], 0, 0.0
    for _ in range(command["n"]):
        context = Context()
        cpu_began, began = time.process_time(), time.perf_counter_ns()
        answer = app.lambda_handler(event, context)
        samples.append((time.perf_counter_ns() - began) / 1e6)
        cpu += time.process_time() - cpu_began
        failed += tokens_in(answer) == 0  # checked outside the timing
    return {
        "n": len(samples),
        "failed": failed,
        "p50_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 0.99),
        "mean_ms": statistics.fmean(samples),
        "cpu_mean_ms": cpu * 1000 / len(samples),
        "peak_rss_kib": peak_rss_kib(),
    }


def rate(app: Any, events: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    """Tokens per second of handler time against RSA-2048 signatures per second from `cryptography`
    (the physical limit), interleaved call by call so that both see the same machine: each batch
    call is followed by as many raw signatures as it asked tokens for. Answers are checked outside
    the timing."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, message = _rsa_key()
    event, tokens, expected, spent, raw_spent, cpu = events[command["event"]], 0, 0, 0.0, 0.0, 0.0
    per_call = len(json.loads(event["body"])["requests"])
    while spent < command["seconds"]:
        context = Context()
        cpu_began, began = time.process_time(), time.perf_counter()
        answer = app.lambda_handler(event, context)
        spent += time.perf_counter() - began
        cpu += time.process_time() - cpu_began
        began = time.perf_counter()
        for _ in range(per_call):
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        raw_spent += time.perf_counter() - began
        tokens += tokens_in(answer)
        expected += per_call
    return {
        "tokens": tokens,
        "failed": expected - tokens,
        "per_second": tokens / spent,
        "raw_per_second": expected / raw_spent,
        "cpu_per_token_ms": cpu * 1000 / max(tokens, 1),
    }


_KEY: list[Any] = []


def _rsa_key() -> tuple[Any, bytes]:
    """A key of the same size as a Stream signing key, and a message of about a token's size."""
    if not _KEY:
        from cryptography.hazmat.primitives.asymmetric import rsa

        _KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY[0], b"x" * 400


if __name__ == "__main__":
    main()
