"""`make load`: a bounded load run against `make run`'s API on loopback.

For each signing mode (local, then api through the Cloudflare double) it starts `make run` in its
own process, sends REQUESTS requests over CONNECTIONS concurrent keep-alive connections (every
tenth a batch of 10, every seventh an invalid request that must get a 400), and samples the
server's resident memory as it goes. It fails unless every answer is the one expected and memory
is flat (after warm-up it may grow by at most MEMORY_SLACK_MB). It prints a table and writes the
figures as JSON (load-results.json). Only 127.0.0.1 is ever contacted; every request has a
timeout and the run a time limit.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUESTS = int(os.environ.get("LOAD_REQUESTS", "10000"))
CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", "16"))
TIME_LIMIT = float(os.environ.get("LOAD_TIME_LIMIT", "600"))
MEMORY_SLACK_MB = 16.0
WARM_UP = 1000
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    mode: str
    sent: int = 0
    unexpected: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    memory_mb: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def request_for(n: int) -> tuple[str, bytes, int]:
    """The n-th request: path, body and the status it must get."""
    if n % 7 == 3:
        return f"/videos/{secrets.token_hex(16)}/token", b'{"exp": "soon"}', 400
    if n % 10 == 5:
        items = [{"identifier": secrets.token_hex(16), "downloadable": bool(i % 2)} for i in range(10)]
        return "/videos/tokens", json.dumps({"requests": items}).encode(), 200
    body = {
        "exp": int(time.time()) + 600,
        "accessRules": [{"type": "ip.src", "action": "allow", "ip": ["192.0.2.0/24"]}],
    }
    return f"/videos/{secrets.token_hex(16)}/token", json.dumps(body).encode(), 200


def drive(run: Run, port: int, pid: int, deadline: float) -> None:
    counter = iter(range(REQUESTS))
    counter_lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                break
            path, body, expected = request_for(n)
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers={"content-type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, payload = -1, repr(exc).encode()
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = (time.perf_counter() - started) * 1000
            ok = status == expected and (status != 200 or _all_items_ok(payload))
            with run.lock:
                run.sent += 1
                run.latencies_ms.append(elapsed)
                if not ok:
                    run.unexpected.append(f"{path}: {status} {payload[:200]!r}")
                if run.sent in (WARM_UP, REQUESTS // 2, REQUESTS):
                    run.memory_mb.append((run.sent, rss_mb(pid)))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _all_items_ok(payload: bytes) -> bool:
    body = json.loads(payload)
    results = body["result"] if isinstance(body["result"], list) else [body]
    return body["success"] and all(item["success"] for item in results)


def run_mode(mode: str) -> Run:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "AWS_ENDPOINT"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "localdev.run"],
        cwd=ROOT,
        env=env | {"PORT": str(port), "SIGNING_MODE": mode, "POWERTOOLS_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = Run(mode)
    try:
        ready = time.monotonic() + 60
        while time.monotonic() < ready:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        started = time.monotonic()
        run.memory_mb.append((0, rss_mb(server.pid)))
        drive(run, port, server.pid, started + TIME_LIMIT)
        run.seconds = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return run


def summary(run: Run) -> dict[str, Any]:
    latencies = sorted(run.latencies_ms)
    after_warm_up = [mb for sent, mb in run.memory_mb if sent >= WARM_UP]
    return {
        "mode": run.mode,
        "requests": run.sent,
        "connections": CONNECTIONS,
        "unexpected_answers": len(run.unexpected),
        "seconds": round(run.seconds, 1),
        "requests_per_second": round(run.sent / run.seconds, 1) if run.seconds else 0.0,
        "latency_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 2) if latencies else None,
        "rss_mb": {str(sent): round(mb, 1) for sent, mb in run.memory_mb},
        "rss_growth_after_warm_up_mb": round(after_warm_up[-1] - after_warm_up[0], 1) if after_warm_up else None,
        "first_unexpected": run.unexpected[:3],
    }


def main() -> int:
    results = [summary(run_mode(mode)) for mode in ("local", "api")]
    Path("load-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{REQUESTS} requests per mode, {CONNECTIONS} connections, loopback")
    print("(every 10th request a batch of 10 tokens, every 7th an invalid request that must get a 400)")
    header = ("mode", "req/s", "p50 ms", "p99 ms", "unexpected", "RSS MB (start / 1k / half / end)")
    print(f"{header[0]:6} {header[1]:>8} {header[2]:>8} {header[3]:>8} {header[4]:>10} {header[5]:>34}")
    failed = False
    for r in results:
        rss = " / ".join(str(v) for v in r["rss_mb"].values())
        figures = (
            r["mode"],
            r["requests_per_second"],
            r["latency_ms_p50"],
            r["latency_ms_p99"],
            r["unexpected_answers"],
        )
        print(f"{figures[0]:6} {figures[1]:>8} {figures[2]:>8} {figures[3]:>8} {figures[4]:>10} {rss:>34}")
        growth = r["rss_growth_after_warm_up_mb"]
        if r["requests"] < REQUESTS or r["unexpected_answers"] or growth is None or growth > MEMORY_SLACK_MB:
            failed = True
            print(
                f"  FAILED: {r['requests']} sent, {r['unexpected_answers']} unexpected, "
                f"RSS growth {growth} MB: {r['first_unexpected']}"
            )
    print("figures written to load-results.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
