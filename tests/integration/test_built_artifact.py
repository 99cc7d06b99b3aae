"""The artifact `sam build` made (the function folder and the built layer) is the one that works.

A fresh Python process gets only what Lambda would put on its path: the built function folder and
the built layer's python/ folder, plus boto3 and Powertools, which the runtime and AWS's public
layer provide (here: the virtual environment, pinned to the same Powertools release). It then
handles events against moto's Secrets Manager and the Cloudflare double on loopback.

The layer is built for arm64; its pure-Python code is what runs here. charset-normalizer's arm64
accelerators are skipped by this x86_64 interpreter, which falls back to its pure-Python modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.log_hygiene import sensitive

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"

DRIVER = r"""
import json, sys, time, uuid
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app, stream_tokens

class Context:
    function_name = "mint-http"; memory_limit_in_mb = 512; function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mint-http"
    aws_request_id = str(uuid.uuid4()); log_group_name = "/aws/lambda/mint-http"; log_stream_name = "s"
    def __init__(self): self.deadline = time.monotonic() + 10
    def get_remaining_time_in_millis(self): return int((self.deadline - time.monotonic()) * 1000)

answers = [app.lambda_handler(json.load(open(path)), Context()) for path in sys.argv[3:]]
print("RESULT " + json.dumps({"stream_tokens": stream_tokens.__file__, "app": app.__file__, "answers": answers}))
"""


@pytest.mark.built
def test_the_sam_build_output_handles_events(function_env, double):
    function_dir, layer_dir = BUILD / "MintFunction", BUILD / "StreamTokensLayer" / "python"
    assert (function_dir / "app.py").is_file() and (layer_dir / "stream_tokens").is_dir(), "run `make build` first"
    assert sorted(p.name for p in function_dir.iterdir() if not p.name.startswith("__")) == ["app.py"]
    events = [
        ROOT / "events" / f"{name}.json"
        for name in ("videos-token.valid", "account-token.defaults", "videos-token.not-json")
    ]
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"} | {k: v for k, v in function_env.items()}
    import os

    env |= {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(function_dir), str(layer_dir), *map(str, events)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )
    logged, _, answer_line = done.stdout.partition("RESULT ")
    print(logged, done.stderr)  # the function's log lines, into the captured output the log scan reads
    assert done.returncode == 0, done.stderr
    result = json.loads(answer_line)
    assert result["stream_tokens"].startswith(str(layer_dir)) and result["app"].startswith(str(function_dir))
    statuses = [a["statusCode"] for a in result["answers"]]
    assert statuses == [200, 200, 400]
    for answer in result["answers"][:2]:
        sensitive(json.loads(answer["body"])["result"]["token"])
    assert len(double.token_requests()) == 2
