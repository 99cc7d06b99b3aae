"""The registry behind "no secret, private key or token in any log line".

Fixtures register every sensitive value they create; conftest collects everything the suite
prints or logs (pytest's own captures of each test phase, subprocess output included, since the
tests that run subprocesses print what they captured); the last test scans one for the other.
"""

from __future__ import annotations

import re

SENSITIVE: set[str] = set()
SUITE_OUTPUT: list[str] = []


def sensitive(value: str) -> str:
    SENSITIVE.add(value)
    return value


_RUN = re.compile(r"[A-Za-z0-9_-]{16,}")  # the characters of tokens, keys' base64 and API tokens
_PREFIX = 16


def leaked(values: set[str], text: str) -> set[str]:
    """The `values` that occur in `text`: exactly `{v for v in values if v in text}`, without
    searching the whole text once per value (the suite's output is tens of MB, its values thousands).

    Each value is looked for by its longest run of token characters, its *anchor*. An anchor that
    follows another character in the value (a JWT's signature after its ".", a PEM line after its
    newline) also starts a run in the text wherever the value occurs: a set of the text's run
    prefixes answers for it. An anchor at the value's start is searched for in the text's distinct
    runs. Only a value whose anchor is found is searched for in the whole text."""
    runs = set(_RUN.findall(text))
    starts = {run[:_PREFIX] for run in runs}
    distinct_runs = "\n".join(runs)
    found = set()
    for value in values:
        pieces = _RUN.findall(value)
        anchor = max(pieces, key=len) if pieces else None
        if anchor is None:
            candidate = True
        elif value.index(anchor) > 0:
            candidate = anchor[:_PREFIX] in starts
        else:
            candidate = anchor in distinct_runs
        if candidate and value in text:
            found.add(value)
    return found
