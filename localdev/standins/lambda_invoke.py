"""Lambda's Invoke API on loopback, for the operator's entitlement function (docs/policy.md).

moto runs functions only in Docker, which this machine (and CI's) has not; this answers
`POST /2015-03-31/functions/{name}/invocations` as Lambda does for a RequestResponse invocation, by
calling a Python handler in-process, so that botocore's real Lambda client code path runs. A handler
that raises answers as a function error does: 200 with X-Amz-Function-Error: Unhandled.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

Handler = Callable[[Any], Any]
INVOKE_PATH = "/2015-03-31/functions/"


class LambdaInvokeStandIn:
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.invocations: list[tuple[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler())

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LambdaInvokeStandIn:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        name = unquote(path.removeprefix(INVOKE_PATH).split("/", 1)[0]).rsplit(":function:", 1)[-1].split(":")[0]
        handler = self.handlers.get(name)
        if not path.startswith(INVOKE_PATH) or handler is None:
            message = {"Type": "User", "message": f"Function not found: {name}"}
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(message).encode()
        event = json.loads(body or b"null")
        self.invocations.append((name, event))
        try:
            return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(handler(event)).encode()
        except Exception as exc:  # as Lambda reports an unhandled error
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(error).encode()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = stand_in.answer(self.path, body)
                self.send_response(status)
                for name, value in (headers | {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return RequestHandler
