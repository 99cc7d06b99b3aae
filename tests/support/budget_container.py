"""One minting container in its own process, for the shared budget tests: `python -m
tests.support.budget_container SPEC` loads functions/mint_http as Lambda does (its environment comes
from the test), waits for `start`, then asks it for a token every `pause` seconds until `until`
(wall clock) and writes how many answers of each status it got to `results` (JSON). Its budget's
clock runs `scale` times faster than real time from `epoch`, as the Cloudflare double's does in the
test, so that 5 minutes pass in seconds; its DynamoDB timeouts are generous, so that a machine busy
with the test's other containers does not put it on its fallback (tested apart). A 429 without a
Retry-After fails it (exit status 1). Its log lines go to a file, which the test prints for the log scan."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

from localdev.standins import stack
from localdev.standins.apigw import LambdaContext, http_api_event
from localdev.standins.examples import VIDEO


def main(spec: dict[str, float | str]) -> None:
    function = str(spec.get("function", "mint_http"))
    ask = ask_direct if function == "mint_direct" else ask_http
    _function(function)  # loaded as Lambda loads it, before the start
    from stream_tokens.adapters import budget_table, shared_budget

    epoch, scale = float(spec["epoch"]), float(spec["scale"])
    shared_budget.wall_clock = lambda: epoch + (time.time() - epoch) * scale
    budget_table.CONNECT_TIMEOUT_SECONDS = budget_table.READ_TIMEOUT_SECONDS = 5.0
    statuses: Counter[int] = Counter()
    time.sleep(max(0.0, float(spec["start"]) - time.time()))
    while time.time() < float(spec["until"]):
        statuses[ask()] += 1
        time.sleep(float(spec["pause"]))
    Path(str(spec["results"])).write_text(json.dumps(statuses))


def ask_http() -> int:
    """The HTTP function (loaded on first use), one token: the answer's status."""
    event = http_api_event(
        "POST",
        f"/videos/{VIDEO}/token",
        "{}",
        route_key="POST /videos/{identifier}/token",
        path_parameters={"identifier": VIDEO},
    )
    answer = _function("mint_http").lambda_handler(event, LambdaContext(timeout_seconds=15))
    status: int = answer["statusCode"]
    assert status != 429 or int(answer["headers"]["Retry-After"]) > 0, answer
    return status


def ask_direct() -> int:
    """The direct function, one token: 200, or the status of the named error it raised."""
    from stream_tokens.domain.errors import StreamTokenError

    try:
        _function("mint_direct").lambda_handler({"identifier": VIDEO}, LambdaContext(timeout_seconds=15))
    except StreamTokenError as failure:
        if failure.status == 429 and not getattr(failure, "retry_after", None):
            raise SystemExit(f"a 429 without Retry-After: {failure}") from None
        return failure.status
    return 200


_loaded: dict[str, ModuleType] = {}


def _function(name: str) -> ModuleType:
    if name not in _loaded:
        _loaded[name] = stack.load_function(name)
    return _loaded[name]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
