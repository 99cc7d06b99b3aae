"""One minting container in its own process, for the shared budget tests: `python -m
tests.support.budget_container SPEC` loads functions/mint_http as Lambda does (its environment comes
from the test), waits for `start`, then asks it for a token every `pause` seconds until `until`
(wall clock) and writes how many answers of each status it got to `results` (JSON). Its budget's
clock runs `scale` times faster than real time from `epoch`, as the Cloudflare double's does in the
test, so that 5 minutes pass in seconds; its DynamoDB timeouts are generous, so that a machine busy
with the test's other containers does not put it on its fallback (tested apart). Its log lines go to
a file, which the test prints for the log scan."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from localdev.standins import stack
from localdev.standins.apigw import LambdaContext, http_api_event
from localdev.standins.examples import VIDEO


def main(spec: dict[str, float | str]) -> None:
    app = stack.load_function("mint_http")
    from stream_tokens.adapters import budget_table

    epoch, scale = float(spec["epoch"]), float(spec["scale"])
    budget_table.wall_clock = lambda: epoch + (time.time() - epoch) * scale
    budget_table.CONNECT_TIMEOUT_SECONDS = budget_table.READ_TIMEOUT_SECONDS = 5.0
    event = http_api_event(
        "POST",
        f"/videos/{VIDEO}/token",
        "{}",
        route_key="POST /videos/{identifier}/token",
        path_parameters={"identifier": VIDEO},
    )
    statuses: Counter[int] = Counter()
    time.sleep(max(0.0, float(spec["start"]) - time.time()))
    while time.time() < float(spec["until"]):
        statuses[app.lambda_handler(event, LambdaContext(timeout_seconds=15))["statusCode"]] += 1
        time.sleep(float(spec["pause"]))
    Path(str(spec["results"])).write_text(json.dumps(statuses))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
