"""What a million tokens cost, per way of minting them (`make costs` prints the table in
docs/operating/costs.md).

Prices are us-east-1's, as of the date below, with where each comes from. What one token uses is
measured here where it can be: the bytes of log lines the function writes for it (run through the
real handler, its Powertools log lines and embedded metrics, in-process against moto and the
Cloudflare double) and the size of the answer; the Lambda duration is `make bench`'s warm p50
(docs/benchmarks.md) plus, in API mode, Cloudflare's own answer time, which only a deployment can measure.
Everything assumed is named in ASSUMPTIONS. Change a price or an assumption here and run again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from localdev.standins import stack, template
from localdev.standins.apigw import LambdaContext, http_api_event
from localdev.standins.cloudflare_double import CloudflareDouble
from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE, VIDEO
from localdev.standins.signing_keys import new_signing_key, secret_fields

PRICES_AS_OF, REGION = "2026-12-02", "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


PRICES = {
    "http_api": Price(1.00 / 1e6, "request (first 300 million a month)", "https://aws.amazon.com/api-gateway/pricing/"),
    "lambda_request": Price(0.20 / 1e6, "invocation", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_arm64": Price(
        0.0000133334, "GB-second, arm64 (first 7.5 billion a month)", "https://aws.amazon.com/lambda/pricing/"
    ),
    "logs_ingest": Price(0.50, "GB ingested (Standard log class)", "https://aws.amazon.com/cloudwatch/pricing/"),
    "logs_store": Price(0.03, "GB-month stored", "https://aws.amazon.com/cloudwatch/pricing/"),
    "dynamodb_write": Price(
        0.625 / 1e6, "write request unit, on-demand", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "transfer_out": Price(
        0.09,
        "GB out to the internet (after the first 100 GB a month)",
        "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
    ),
    "secret": Price(0.40, "secret-month", "https://aws.amazon.com/secrets-manager/pricing/"),
    "secret_call": Price(0.05 / 1e4, "API call", "https://aws.amazon.com/secrets-manager/pricing/"),
    "metric": Price(0.30, "custom metric-month (first 10,000)", "https://aws.amazon.com/cloudwatch/pricing/"),
    "alarm": Price(0.10, "standard-resolution alarm-month", "https://aws.amazon.com/cloudwatch/pricing/"),
    "dashboard": Price(3.00, "dashboard-month (first 3 free)", "https://aws.amazon.com/cloudwatch/pricing/"),
}
ASSUMPTIONS = {
    "memory_gb": 1.0,  # template.yaml's Globals MemorySize: 1024
    "warm_ms_local": 0.480,  # make bench, warm p50, local signing (docs/benchmarks.md, 23 Nov 2026)
    "warm_ms_api": 1.650,  # make bench, warm p50, Cloudflare API mode against an instant double
    "batch_ms_per_token": 1000 / 3363,  # make bench, batch route throughput on one core
    "cloudflare_ms": 100.0,  # Cloudflare's own answer time to POST .../token: not measurable here
    "budget_writes_per_call": 1,  # issue 13's budget table: one conditional write per Cloudflare call (to revisit)
    "platform_log_bytes": 260,  # Lambda's START/END/REPORT lines per invocation (Text format), estimated
    "access_log_bytes": 420,  # the HttpApi's access log line per request (template's Format, typical values)
    "retention_months": 1.0,  # LogRetentionDays 30: each byte is stored about a month
    "batch_size": 100,
}
MODES = ("local", "api", "batch")
LABELS = {
    "local": "one token a request, signed locally",
    "api": "one token a request, from Cloudflare's API",
    "batch": f"batches of {ASSUMPTIONS['batch_size']}, signed locally",
}


def measure() -> dict[str, dict[str, float]]:
    """Per token and mode: bytes of the function's log lines (JSON logs and EMF) and of the answer,
    from warm invocations of the real handler."""
    saved = dict(os.environ)  # the stand-ins' settings go into the environment, as Lambda's would
    stack.apply_env(stack.FAKE_AWS_ENV)
    moto, endpoint = stack.start_moto()
    token = secrets.token_urlsafe(30)
    double = CloudflareDouble(ACCOUNT, api_token=token, record=False).start()
    secret = {"account_id": ACCOUNT, "api_token": token} | secret_fields(new_signing_key())
    try:
        results = {}
        for mode in MODES:
            arn = stack.create_secret(endpoint, f"costs-{mode}-{secrets.token_hex(4)}", secret)
            stack.apply_env(
                template.function_environment(
                    {
                        "CLOUDFLARE_SECRET_ARN": arn,
                        "CLOUDFLARE_BASE_URL": double.base_url,
                        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
                        "STREAM_CUSTOMER_CODE": CUSTOMER_CODE,
                        "SIGNING_MODE": "api" if mode == "api" else "local",
                        "UPSTREAM_CALLS_PER_5_MINUTES": "1000000000",
                    }
                )
            )
            results[mode] = _measure_mode(mode)
        return results
    finally:
        double.stop()
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)


def _request(mode: str) -> tuple[int, dict[str, Any]]:
    """How many tokens one request of `mode` asks for, and its API Gateway event."""
    if mode == "batch":
        count = int(ASSUMPTIONS["batch_size"])
        body = json.dumps({"requests": [{"identifier": VIDEO}] * count})
        return count, http_api_event("POST", "/videos/tokens", body, route_key="POST /videos/tokens")
    route, params = "POST /videos/{identifier}/token", {"identifier": VIDEO}
    return 1, http_api_event("POST", f"/videos/{VIDEO}/token", "{}", route_key=route, path_parameters=params)


def _measure_mode(mode: str, runs: int = 20) -> dict[str, float]:
    """A fresh container, one cold invocation not counted, then `runs` warm ones measured."""
    app = stack.load_function("mint_http")
    count, event = _request(mode)
    with _captured(io.StringIO()):
        app.lambda_handler(event, LambdaContext())  # the cold start's extra lines are not per token
    out = io.StringIO()
    with _captured(out):
        answers = [app.lambda_handler(event, LambdaContext()) for _ in range(runs)]
    if any(a["statusCode"] != 200 for a in answers):
        raise RuntimeError(f"{mode}: the handler refused the request: {answers[0]['body']}")
    log_bytes = sum(len(line.encode()) + 1 for line in out.getvalue().splitlines())
    return {
        "log_bytes": log_bytes / runs / count,
        "answer_bytes": sum(len(a["body"].encode()) for a in answers) / runs / count,
    }


@contextlib.contextmanager
def _captured(out: io.StringIO) -> Any:
    """The function's stdout: Powertools' log handler (bound to a stream when made) and EMF prints."""
    handlers = [h for h in logging.getLogger("stream-signed-urls").handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(out) for h in handlers]
    try:
        with contextlib.redirect_stdout(out):
            yield
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)


def per_million(mode: str, measured: dict[str, float]) -> dict[str, float]:
    """USD per million tokens, line by line."""
    a, p, n = ASSUMPTIONS, PRICES, 1e6
    requests = n / (a["batch_size"] if mode == "batch" else 1)
    if mode == "batch":
        billed_ms = math.ceil(a["batch_ms_per_token"] * a["batch_size"]) * requests / n
    elif mode == "api":
        billed_ms = math.ceil(a["warm_ms_api"] + a["cloudflare_ms"])
    else:
        billed_ms = math.ceil(a["warm_ms_local"])
    log_gb = (measured["log_bytes"] * n + (a["platform_log_bytes"] + a["access_log_bytes"]) * requests) / 1e9
    return {
        "API Gateway HTTP API": requests * p["http_api"].usd,
        "Lambda requests": requests * p["lambda_request"].usd,
        "Lambda duration (arm64, 1,024 MB)": n * billed_ms / 1000 * a["memory_gb"] * p["lambda_arm64"].usd,
        "budget table writes": n * a["budget_writes_per_call"] * p["dynamodb_write"].usd if mode == "api" else 0.0,
        "CloudWatch Logs ingestion": log_gb * p["logs_ingest"].usd,
        "CloudWatch Logs storage": log_gb * a["retention_months"] * p["logs_store"].usd,
        "data transfer out (answers)": measured["answer_bytes"] * n / 1e9 * p["transfer_out"].usd,
    }


def monthly_fixed() -> dict[str, float]:
    """What the stack costs a month whatever the traffic (metrics counted as series that get data)."""
    series = (
        2 + 1 + 1 + 2 + 2 + 5 + 5
    )  # TokensIssued x2, UpstreamLatency, share used, RateLimited x2, ColdStart x2, ~5 ErrorKinds, ~5 key events
    containers = 2  # warm containers reading the secret every SecretMaxAgeSeconds (300 s)
    return {
        "Secrets Manager secret": PRICES["secret"].usd,
        "Secrets Manager reads (2 warm containers, every 300 s)": containers * 30 * 24 * 12 * PRICES["secret_call"].usd,
        f"custom metrics (~{series} series that receive data)": series * PRICES["metric"].usd,
        "alarms (12)": 12 * PRICES["alarm"].usd,
        "dashboard (beyond the 3 free)": PRICES["dashboard"].usd,
    }


def table(measured: dict[str, dict[str, float]]) -> str:
    lines = [
        "| USD per million tokens | " + " | ".join(LABELS[m] for m in MODES) + " |",
        "| --- |" + " ---: |" * len(MODES),
    ]
    costs = {m: per_million(m, measured[m]) for m in MODES}
    for item in costs["local"]:
        lines.append(f"| {item} | " + " | ".join(f"{costs[m][item]:.3f}" for m in MODES) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(costs[m].values()):.2f}**" for m in MODES) + " |")
    lines.append(
        "| log bytes the function writes per token (measured) | "
        + " | ".join(f"{measured[m]['log_bytes']:.0f}" for m in MODES)
        + " |"
    )
    fixed = monthly_fixed()
    lines += ["", "| USD a month, whatever the traffic | |", "| --- | ---: |"]
    lines += [f"| {item} | {usd:.2f} |" for item, usd in fixed.items()]
    lines.append(f"| **total** | **{sum(fixed.values()):.2f}** |")
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    print(f"Prices: {REGION}, as of {PRICES_AS_OF}.")
    print(table(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
