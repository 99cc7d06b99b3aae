"""`make run` as a subprocess: what it runs, started on a free port, its banner read, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from localdev.standins import template
from localdev.standins.template import ROOT
from tests.support.log_hygiene import sensitive


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outer_environment(*prefixes: str) -> dict[str, str]:
    """This process's environment without what make run sets itself (the functions' variables, as
    the template declares them), the stand-ins' endpoints and names starting with `prefixes`."""
    declared = set(template.function_environment({}))
    dropped = ("CLOUDFLARE_", "AWS_ENDPOINT", *prefixes)
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k not in declared}


def start_make_run(port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """What `make run` runs, in its own process."""
    env = outer_environment()
    return subprocess.Popen(
        [sys.executable, "-m", "localdev.run"],
        cwd=ROOT,
        env=env | {"PORT": str(port), "PYTHONUNBUFFERED": "1"} | (extra_env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    printed = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        printed.append(line)
        if "Ctrl-C to stop" in line or not line:
            break
    return printed


def stop(process: subprocess.Popen[str], printed: list[str]) -> None:
    assert process.stdout is not None
    if process.poll() is None:
        process.kill()
    print("".join(printed) + process.stdout.read())  # into this test's captured output, which the log scan reads


def bearer_token(port: int, **variables: str) -> str:
    """What `make jwt PORT=... SUB=... [SCOPES=...] [CLAIMS=...] [EXPIRES_IN=...] [AUD=...]` prints
    alone on its last line, for `AUTH_MODE=JWT make run` on `port` (registered as sensitive)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SUB", "SCOPES", "CLAIMS", "EXPIRES_IN", "AUD")}
    minted = subprocess.run(
        [sys.executable, "-m", "localdev.jwt"],
        cwd=ROOT,
        env=env | {"PORT": str(port)} | variables,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert minted.returncode == 0, minted.stderr
    return sensitive(minted.stdout.rstrip("\n").rsplit("\n", 1)[-1])
