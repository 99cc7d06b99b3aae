"""A browser page behind `AUTH_MODE=JWT make run`, as docs/calling/browsers.md's example calls the
deployed API: Debian's Chromium (headless, driven by playwright-core) on a page served from another
loopback origin, POSTing with fetch and an Authorization header. It shows API Gateway's 401 without a
token and the iframe URL with one: CORS preflight, the authorizer and the function, end to end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from localdev.standins.examples import VIDEO
from localdev.standins.template import ROOT
from tests.support.log_hygiene import sensitive
from tests.support.make_run import bearer_token, free_port, read_banner, start_make_run, stop

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make test` installs it (the Makefile's `browser`)
NODE_MODULES = ROOT / ".npm-tools" / "node_modules"  # playwright-core, pinned in requirements/npm


def browser_or_skip() -> str:
    """Node, playwright-core and Chromium, or a skip when there is no apt-get to install Chromium."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.skip(f"no Chromium at {CHROMIUM} and no apt-get to install it: the browser test needs Debian's")
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` (part of `make test`) installs it with apt-get")
    node = shutil.which("node")
    assert node, "node not found: install Node.js (20.19+ or 22.12+), as `make template` needs it too"
    assert (NODE_MODULES / "playwright-core").is_dir(), "playwright-core missing: `make test` installs .npm-tools"
    return node


@pytest.fixture
def page_origin() -> Iterator[str]:
    """tests/browser/page served on another loopback port: the page's origin."""
    handler = partial(_QuietFiles, directory=str(HERE / "page"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def drive(node: str, page_url: str, token: str) -> dict[str, Any]:
    env = os.environ | {"NODE_PATH": str(NODE_MODULES), "CHROMIUM": str(CHROMIUM), "PAGE_URL": page_url}
    ran = subprocess.run(
        [node, str(HERE / "drive.cjs")],
        env=env | {"TOKEN": token},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    shown: dict[str, Any] = json.loads(ran.stdout.strip().rsplit("\n", 1)[-1])
    return shown


def test_a_browser_page_gets_the_401_without_a_token_and_the_iframe_url_with_one(page_origin):
    node = browser_or_skip()
    port = free_port()
    process = start_make_run(port, {"AUTH_MODE": "JWT", "ALLOWED_ORIGINS": page_origin})
    printed: list[str] = []
    try:
        printed = read_banner(process)
        token = bearer_token(port, SUB="viewer", CLAIMS=json.dumps({"stream_videos": VIDEO}))
        shown = drive(node, f"{page_origin}/index.html?api=http://127.0.0.1:{port}&video={VIDEO}", token)
        assert shown["withoutToken"] == {"status": "401 Unauthorized", "iframe": ""}
        assert shown["withToken"]["status"] == "200 OK", shown
        assert shown["withToken"]["iframe"].startswith("https://customer-")
        assert shown["withToken"]["iframe"].endswith("/iframe")
        sensitive(shown["withToken"]["iframe"].split("/")[3])  # the signed token, in no log
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process, printed)
