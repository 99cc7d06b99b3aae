"""`make run` stops on Ctrl-C and on SIGTERM, every time, whatever it was doing, in both signing modes.

Each case starts the real `make run` in a session of its own (its own process group, as a shell runs
a job), leaves it idle, uses it, or keeps batches in flight, then stops it the way people and process
managers do:

- Ctrl-C: the terminal sends SIGINT to the whole foreground process group, make and its recipe;
- `kill <make's pid>`: SIGTERM to make alone, which forwards it to its recipe;
- `kill -- -<pgid>` (`timeout`, a supervisor stopping a group): SIGTERM to both, so the server gets
  it twice, once from the group and once forwarded by make;
- again and again: the same signal every 100 ms until it has stopped (Ctrl-C pressed repeatedly).

GNU make always ends by re-raising the signal it got (`fatal_error_signal` in make's commands.c:
it waits for its recipe, then `kill (getpid (), sig)`), so make's own status is "killed by SIGINT /
SIGTERM" (130 / 143 in a shell) whatever its recipe did. That the recipe (`python -m localdev.run`)
ended with status 0 shows in two ways: make prints no `make: *** [...] Error N` / `Terminated` /
`Interrupt` line (it prints one for a recipe that fails or dies of a signal), and the server's last
line is `stopped`, which it prints once everything it started is shut down.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from localdev.standins.examples import VIDEO
from localdev.standins.template import ROOT
from tests.support.log_hygiene import sensitive
from tests.support.make_run import outer_environment

MAKE = shutil.which("make") or "make"
STOP_WITHIN = 5.0  # seconds from the signal to make's exit
MAKE_FAILED = re.compile(r"^make(\[\d+\])?: \*\*\*", re.MULTILINE)


@dataclass(frozen=True)
class Stop:
    """How the signal is sent: to make alone or to its process group; once or again and again."""

    name: str
    signal: signal.Signals
    group: bool
    repeat: bool = False


CTRL_C = Stop("Ctrl-C", signal.SIGINT, group=True)
SIGTERM_TO_MAKE = Stop("SIGTERM to make", signal.SIGTERM, group=False)
SIGTERM_TO_GROUP = Stop("SIGTERM to the group", signal.SIGTERM, group=True)
CTRL_C_AGAIN = Stop("Ctrl-C again and again", signal.SIGINT, group=True, repeat=True)
SIGTERM_AGAIN = Stop("SIGTERM to the group again and again", signal.SIGTERM, group=True, repeat=True)


class MakeRun:
    """`make run` as a shell job: its own process group, its output read as it comes (a full pipe
    would stall the server, which would then be the test's fault)."""

    def __init__(self, mode: str) -> None:
        env = outer_environment("MAKE", "MFLAGS")  # not the outer make's either
        self.process = subprocess.Popen(
            [MAKE, "--no-print-directory", "run"],
            cwd=ROOT,
            env=env | {"PORT": "0", "SIGNING_MODE": mode, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.clients: list[requests.Session] = []  # connections kept open until the end
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._ready.wait(60), self.output
        self.url = next(word for line in self.lines if "API on" in line for word in line.split() if "://" in word)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "Ctrl-C to stop" in line:
                self._ready.set()
        self._ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, how: Stop) -> float:
        """Send the signal (again every 100 ms if `how.repeat`); seconds until make has exited."""
        send: Callable[[int, int], None] = os.killpg if how.group else os.kill
        started = time.monotonic()
        send(self.process.pid, how.signal)
        while how.repeat and self.process.poll() is None and time.monotonic() - started < STOP_WITHIN:
            time.sleep(0.1)
            if self.process.poll() is None:
                send(self.process.pid, how.signal)
        try:
            self.process.wait(timeout=max(0.1, STOP_WITHIN - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            return float("inf")
        finally:
            self.kill()
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for client in self.clients:
            client.close()


def idle(api: MakeRun) -> None:
    pass


def after_requests(api: MakeRun) -> None:
    """A few tokens and a refusal on one keep-alive connection, left open (as SDKs leave it)."""
    session = requests.Session()
    api.clients.append(session)
    for body, status in (({}, 200), ({"accessRules": []}, 200), ({"downloadable": True}, 403), ({"exp": 1}, 400)):
        answer = session.post(f"{api.url}/videos/{VIDEO}/token", json=body, timeout=10)
        assert answer.status_code == status, answer.text
        if answer.status_code == 200:
            sensitive(answer.json()["result"]["token"])
    batch = session.post(f"{api.url}/videos/tokens", json={"requests": [{"identifier": VIDEO}] * 5}, timeout=10)
    assert batch.status_code == 200, batch.text
    for item in batch.json()["result"]:
        sensitive(item["result"]["token"])


def during_batches(api: MakeRun) -> None:
    """Two clients sending batches of 40 back to back: the signal lands while items are minted."""
    first_answer = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            try:
                while True:
                    answer = session.post(
                        f"{api.url}/videos/tokens", json={"requests": [{"identifier": VIDEO}] * 40}, timeout=10
                    )
                    for item in answer.json()["result"]:
                        if item.get("success"):
                            sensitive(item["result"]["token"])
                    first_answer.set()
            except (requests.RequestException, ValueError):
                return  # the server has gone: that is the point

    for _ in range(2):
        threading.Thread(target=client, daemon=True).start()
    assert first_answer.wait(20)


# Ten stops per signing mode: each way of stopping at least twice, idle, right after requests and
# while batches are in flight.
CASES = [
    (CTRL_C, idle),
    (SIGTERM_TO_MAKE, idle),
    (SIGTERM_TO_GROUP, idle),
    (CTRL_C_AGAIN, idle),
    (CTRL_C, after_requests),
    (SIGTERM_TO_MAKE, after_requests),
    (SIGTERM_TO_GROUP, after_requests),
    (SIGTERM_AGAIN, after_requests),
    (CTRL_C, during_batches),
    (SIGTERM_TO_MAKE, during_batches),
]


def stop_once(mode: str, how: Stop, activity: Callable[[MakeRun], None]) -> list[str]:
    """One start, use and stop of `make run`; the problems found (none when it stopped well)."""
    api = MakeRun(mode)
    try:
        activity(api)
        seconds = api.stop(how)
    finally:
        api.kill()
    output = api.output
    print(output)  # into this test's captured output, which the log scan reads
    last_line = output.rstrip().rsplit("\n", 1)[-1]
    case = f"{mode}, {how.name}, {activity.__name__}"
    problems = []
    if seconds > STOP_WITHIN:
        problems.append(f"{case}: still running {STOP_WITHIN} s after the signal")
    elif api.process.returncode != -how.signal:
        problems.append(f"{case}: make ended with {api.process.returncode}, not by re-raising {how.signal.name}")
    if MAKE_FAILED.search(output) or last_line != "stopped":
        problems.append(f"{case}: the server did not stop cleanly: ...{output[-600:]}")
    return problems


@pytest.mark.parametrize("mode", ["auto", "api"])
def test_make_run_always_stops_on_ctrl_c_and_sigterm(mode):
    # two runs at a time: the cases are independent, and the suite stays short
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(lambda case: stop_once(mode, *case), CASES)
        problems = [problem for problems in found for problem in problems]
    assert problems == []
