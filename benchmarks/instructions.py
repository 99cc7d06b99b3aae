"""Instructions per batch token, counted by valgrind's callgrind: `python -m benchmarks.instructions`.

Times on a shared machine move by tens of percent from one minute to the next; instruction counts
do not. This runs the batch path (body decoding, validation, signing, the answer's JSON) in a child
process under callgrind twice, with no batch and with BATCHES batches of 100 tokens, and prints the
difference per token. The signature itself is left out (the key's `sign` returns 256 fixed bytes):
what is counted is the package's own work around it, which decides how close the batch route comes
to the raw RSA rate. The key is made once here and handed to both runs, so that they differ only in
the batches. Needs `valgrind` (Debian package `valgrind`); nothing touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCHES, TOKENS = 20, 100


def child(batches: int, key_file: str) -> None:
    """The measured process: the batch path `batches` times after one warm-up batch."""
    sys.path[:0] = [str(ROOT / "layers" / "stream_tokens"), str(ROOT)]
    sys.modules["awscrt"] = None  # type: ignore[assignment]  # its entropy pool would vary the count
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Instructions")
    from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE
    from stream_tokens.adapters.issuers import LocalIssuer
    from stream_tokens.domain.callers import direct_caller
    from stream_tokens.domain.credentials import CloudflareCredentials
    from stream_tokens.domain.policy import ANY, Callers, Lifetime, Policy, Rule
    from stream_tokens.runtime import http
    from stream_tokens.runtime.http_routes import HttpRequest
    from stream_tokens.services.authorization import Authorization, FixedPolicy
    from stream_tokens.services.minting import MintingSettings, TokenService

    credentials = CloudflareCredentials.from_secret({"account_id": ACCOUNT} | json.loads(Path(key_file).read_text()))
    assert credentials.signing_key is not None
    object.__setattr__(credentials.signing_key, "private_key", _NoRsa())
    local = LocalIssuer()
    settings = MintingSettings(CUSTOMER_CODE, "local", upstream_concurrency=1, batch_max_items=TOKENS)
    # local signing only: the API issuer is never asked
    anyone = Authorization(
        FixedPolicy(Policy((Rule("backends", Callers(anyone=True), ANY, Lifetime(3600, 86400)),))), {}, None
    )
    service = TokenService(settings, credentials=_Secret(credentials), api=local, local=local, authorization=anyone)
    service.clock = lambda: 1_800_000_000
    body = json.dumps({"requests": [{"identifier": f"{n:032x}", "exp": 1_800_003_600} for n in range(TOKENS)]})
    request = HttpRequest("POST /videos/tokens", {}, body, False, None)

    def batch() -> None:
        items = http.batch_body(request, max_items=TOKENS)
        answer = http.batch(service.mint_many(direct_caller("bench"), items, deadline=time.monotonic() + 30))
        assert answer.body.count('"success":true') == 1 + TOKENS, answer.body[:300]  # every token issued

    for _ in range(1 + batches):
        batch()


class _Secret:
    """The credentials port, holding one version of the secret."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials

    def get(self, *, refresh: bool = False) -> Any:
        return self.credentials


class _NoRsa:
    def sign(self, data: bytes, padding: Any, algorithm: Any) -> bytes:
        return b"\x01" * 256


def counted(valgrind: str, batches: int, key_file: str) -> int:
    """Instructions of a child run with `batches` batches (its log lines go nowhere)."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}/callgrind.out",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--child",
                str(batches),
                key_file,
            ],
            cwd=ROOT,
            env=os.environ | {"PYTHONHASHSEED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
    collected = [line.split("Collected :")[1] for line in done.stderr.splitlines() if "Collected :" in line]
    return int(collected[0].strip())


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3])
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found: install it (Debian: apt-get install valgrind)")
        return 1
    sys.path[:0] = [str(ROOT / "layers" / "stream_tokens"), str(ROOT)]
    from localdev.standins.signing_keys import new_signing_key, secret_fields

    with tempfile.NamedTemporaryFile("w", suffix=".json") as key_file:
        key_file.write(json.dumps(secret_fields(new_signing_key())))
        key_file.flush()
        base, measured = counted(valgrind, 0, key_file.name), counted(valgrind, BATCHES, key_file.name)
    print(f"{(measured - base) / (BATCHES * TOKENS):,.0f} instructions per batch token (the signature left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
