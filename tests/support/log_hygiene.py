"""The registry behind "no secret, private key or token in any log line".

Fixtures register every sensitive value they create; conftest collects everything the suite
prints or logs (pytest's own captures of each test phase, subprocess output included, since the
tests that run subprocesses print what they captured); the last test scans one for the other.
"""

from __future__ import annotations

SENSITIVE: set[str] = set()
SUITE_OUTPUT: list[str] = []


def sensitive(value: str) -> str:
    SENSITIVE.add(value)
    return value
