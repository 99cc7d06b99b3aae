"""A local HTTP API: each HTTP request becomes an API Gateway v2 event for the real handler.

Routes come from openapi.yaml, which the template's HttpApi is built from, as API Gateway's would: a
request matching none gets API Gateway's own 404. Invocations run one at a time, as in a single Lambda container.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .apigw import LambdaContext, http_api_event
from .cors import Cors
from .jwt_authorizer import LocalIssuer
from .template import Route

_NOT_FOUND = '{"message":"Not Found"}'  # API Gateway's own answer for a request matching no route
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once (make load) are queued, not reset


class LocalHttpApi:
    def __init__(
        self,
        handler: Handler,
        routes: list[Route],
        *,
        port: int = 3000,
        timeout_seconds: float = 10.0,
        cors: Cors | None = None,
        issuer: LocalIssuer | None = None,
    ) -> None:
        """`cors`: answer preflights and add CORS headers as API Gateway does (None: no CORS);
        `issuer`: a JWT authorizer in front, as AuthMode JWT (None: no authorizer, AuthMode NONE)."""
        self.issuer = issuer
        self.handler = handler
        self.routes = routes
        self.cors = cors
        self.timeout_seconds = timeout_seconds
        self._invoke_lock = threading.Lock()
        self._stopped = False
        self._server = _Server(("127.0.0.1", port), self._request_handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalHttpApi:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="local-http-api", daemon=True).start()
        return self

    def stop(self) -> None:
        """No new connections; the invocation under way (if any) finishes, and none starts after it:
        nothing the handler does (its log lines included) outlives this call."""
        self._server.shutdown()
        with self._invoke_lock:
            self._stopped = True
        self._server.server_close()

    def invoke(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> dict[str, Any] | None:
        """The handler's answer to one request, or None once the API has stopped."""
        if self.cors is None:
            return self._route(method, target, headers, body, source_ip)
        if self.cors.is_preflight(method, headers):  # answered by API Gateway: no route, authorizer or function
            return self.cors.preflight(headers)
        answer = self._route(method, target, headers, body, source_ip)
        return None if answer is None else self.cors.on_answer(headers, answer)

    def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> dict[str, Any] | None:
        raw_path, _, raw_query = target.partition("?")
        for route in self.routes:
            params = route.match(method, raw_path)
            if params is not None:
                break
        else:
            return {
                "statusCode": 404,
                "headers": {"content-type": "application/json"},
                "body": _NOT_FOUND,
            }
        authorizer = None if self.issuer is None else self.issuer.authorize(headers)
        if authorizer is not None and "refused" in authorizer:  # API Gateway's answer: no function
            return dict(authorizer["refused"])
        event = http_api_event(
            method,
            raw_path,
            body or None,
            route_key=route.key,
            path_parameters=params,
            headers=headers,
            raw_query=raw_query,
            source_ip=source_ip,
            base64_body=bool(body) and not _is_text(body, headers.get("content-type", "")),
            authorizer=authorizer,
        )
        with self._invoke_lock:
            if self._stopped:
                return None
            try:
                return self.handler(event, LambdaContext(timeout_seconds=self.timeout_seconds))
            except Exception:  # API Gateway's answer when the function itself fails
                return {"statusCode": 500, "body": '{"message":"Internal Server Error"}'}

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = api.invoke(self.command, self.path, headers, body, self.client_address[0])
                if answer is None:  # stopped: the connection closes unanswered, as a server going away
                    self.close_connection = True
                    return
                data = answer.get("body") or ""
                payload = base64.b64decode(data) if answer.get("isBase64Encoded") else data.encode()
                self.send_response(int(answer.get("statusCode", 200)))
                for name, value in (answer.get("headers") or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def __getattr__(self, name: str) -> Any:  # any method, as API Gateway takes any (404 if no route)
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return RequestHandler


def _is_text(body: bytes, content_type: str) -> bool:
    """API Gateway passes text bodies as they are and base64-encodes the rest."""
    if not (content_type.startswith("text/") or "json" in content_type or "xml" in content_type):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
