"""A stand-in for Cloudflare's Stream API on loopback, faithful to Cloudflare's own schema.

Every request is checked against `cloudflare-openapi-stream-fragment.json` (a verbatim excerpt of
cloudflare/api-schemas, the same as ../shared/cloudflare/): the path and its parameters, the auth
headers the operation's security allows, the JSON body against `stream_signed_token_request`,
extended with the body fields Cloudflare's SDKs send that the published schema lacks (`flags`), as
`cloudflare-sdk-additions.json` writes them from the SDKs' own definitions.
It answers as Cloudflare does: the envelope, a real RS256 JWT with `exp`/`nbf` as strings, 401 for
credentials it does not know, 404 for unknown videos, 400 for bodies the schema refuses, and
checks its own answers against the response schemas. Anything a well-behaved client would never
send (unknown body fields, ids that are not 32 hex characters, a wrong account) is also recorded in
`violations`, which tests assert to be empty.

It also keeps the account's Stream signing keys (`POST`, `GET .../stream/keys`, `DELETE
.../stream/keys/{id}`): each created key is a real RSA key generated on the spot, as Cloudflare
returns it (`id`, base64 `pem` and `jwk`, `created`); `created_keys` keeps every one created, so
tests can verify with them and register them for the log scan.

It records when each request arrived (`call_times`, by `clock`, which a test may speed up), so a
test can count the calls in every sliding span (`most_calls_in_any_span`).

Tests can script faults (`fail_next`): any status, headers and body, a slow reply, or a connection
cut in the middle of the body; `fail_next(..., operation=DELETE_KEY)` scripts one operation alone.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jsonschema import Draft202012Validator

from .signing_keys import new_signing_key, public_jwk, public_key

FRAGMENT = Path(__file__).with_name("cloudflare-openapi-stream-fragment.json")
SDK_ADDITIONS = Path(__file__).with_name("cloudflare-sdk-additions.json")
BASE_PATH = "/client/v4"
_HEX32 = re.compile(r"[0-9a-f]{32}")
CREATE_KEY = "stream-signing-keys-create-signing-keys"
LIST_KEYS = "stream-signing-keys-list-signing-keys"
DELETE_KEY = "stream-signing-keys-delete-signing-keys"
KEY_OPERATIONS = (CREATE_KEY, LIST_KEYS, DELETE_KEY)
# The excerpt names a schema it does not include for DELETE's 200 (stream_deleted_response): that
# answer is checked against the envelope every single-result answer extends.
FALLBACK_RESPONSE = "#/components/schemas/stream_api-response-single"


@dataclass
class Fault:
    """One scripted answer. `cut_body` sends the headers and half the body, then drops the connection;
    `drop` closes the connection without answering at all."""

    status: int = 500
    body: Any = None  # dict/list -> JSON; str/bytes -> sent as is; None -> a Cloudflare error envelope
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_body: bool = False
    drop: bool = False


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class CloudflareDouble:
    def __init__(
        self,
        account_id: str,
        *,
        api_token: str | None = None,
        api_email: str | None = None,
        api_key: str | None = None,
        record: bool = True,
        instant: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`record=False` (make run) keeps no history of requests and tokens, so memory stays flat.
        `instant=True` (make bench) answers at once: it still checks the credentials, but skips the
        schema checks and signs one token per video, reused for every later request for it."""
        self.account_id = account_id
        self.record = record
        self.instant = instant
        self._instant_tokens: dict[str, dict[str, Any]] = {}
        self.api_token = api_token
        self.api_email = api_email
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.clock = clock
        self.call_times: list[float] = []  # when each request arrived, by `clock` (when recording)
        self.violations: list[str] = []
        self.issued_tokens: list[str] = []
        self.missing_videos: set[str] = set()
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at the same time
        self._faults: deque[Fault] = deque()
        self._operation_faults: dict[str, deque[Fault]] = {}
        self.signing_keys: dict[str, str] = {}  # id -> created: the keys the account has now
        self.created_keys: list[dict[str, Any]] = []  # every key POST /stream/keys returned
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(16)
        self.public_key = self._key.public_key()
        self._fragment = _with_sdk_additions(json.loads(FRAGMENT.read_text()), json.loads(SDK_ADDITIONS.read_text()))
        self._operations = self._compile_operations()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> CloudflareDouble:
        double = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

            def process_request(self, request: Any, client_address: Any) -> None:
                with double._lock:
                    double.connections += 1
                super().process_request(request, client_address)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # connections the tests cut on purpose are not news

        self._server = Server(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="cloudflare-double", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CloudflareDouble:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the double first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{BASE_PATH}"

    # -- test controls -------------------------------------------------------------------------
    def fail_next(self, *faults: Fault, operation: str | None = None) -> None:
        """Script the next answers: of any route, or of one operation (its operationId) only."""
        with self._lock:
            (self._faults if operation is None else self._operation_faults.setdefault(operation, deque())).extend(
                faults
            )

    def rotate_token(self, new_token: str) -> None:
        """The account's API token changes: the old one is refused with 401 from now on."""
        self.api_token = new_token

    def add_signing_key(self) -> dict[str, Any]:
        """A key the account already has (made on the dashboard, say): id, pem, jwk, created."""
        with self._lock:
            return self._new_key()

    def _new_key(self) -> dict[str, Any]:
        key = new_signing_key()
        self.signing_keys[key["id"]] = key["created"]
        self.created_keys.append(key)
        return dict(key)

    def accepts(self, token: str) -> bool:
        """What Cloudflare's edge does with a token a viewer presents: signed by a key the account
        has now (the double's own `/token` key, or a signing key not deleted), and not expired.
        (`exp` may be a string: Cloudflare's own tokens carry it so.)"""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            return False
        with self._lock:
            if kid == self.key_id:
                public: Any = self.public_key
            elif kid in self.signing_keys:
                (key,) = [k for k in self.created_keys if k["id"] == kid]
                public = public_key(public_jwk(key))
            else:
                return False  # never known, or deleted: every token it signed is revoked
        try:
            claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_nbf": False})
        except jwt.InvalidTokenError:
            return False
        return float(claims["exp"]) > self.clock()

    def key_requests(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if "/stream/keys" in r.path and method in (None, r.method)]

    def most_calls_in_any_span(self, seconds: float) -> int:
        """The most requests that arrived within any `seconds` (every span [s, s + seconds), sliding)."""
        with self._lock:
            times = list(self.call_times)
        return most_in_any_span(times, seconds)

    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/token")]

    # -- the API -------------------------------------------------------------------------------
    def _compile_operations(self) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
        operations = []
        for template, item in self._fragment["paths"].items():
            pattern = re.escape(BASE_PATH + template)
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]*)", pattern)
            for method, operation in item.items():
                operations.append((method.upper(), re.compile(pattern), operation))
        return operations

    def _validator(self, ref: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": ref, "components": _json_schema(self._fragment["components"])})

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        body = _decoded(raw)
        if self.record:
            with self._lock:
                self.requests.append(Recorded(method, path, headers, body))
                self.call_times.append(self.clock())
        if self.instant:
            return self._answer_at_once(path, headers, body)
        matched = [(op, m) for meth, rx, op in self._operations if meth == method and (m := rx.fullmatch(path))]
        if not matched:
            self._violation(f"{method} {path}: no such operation in Cloudflare's schema")
            return 404, {}, _failure(7003, "No route for the URI")
        operation, match = matched[0]
        params = match.groupdict()
        refusal = self._refuse_parameters(operation, params, path, headers) or self._refuse_body(
            operation, path, headers, body
        )
        if refusal is not None:
            return refusal
        fault = self._next_fault(operation.get("operationId", ""))
        if fault is not None:
            return fault.status, fault.headers, fault
        if operation.get("operationId") in KEY_OPERATIONS:
            return self._keys(operation["operationId"], params)
        video_id = params["identifier"]
        if video_id in self.missing_videos:
            return 404, {}, _failure(10003, "Not Found")
        return 200, {}, self._mint(video_id, body)

    def _refuse_parameters(
        self, operation: dict[str, Any], params: dict[str, str], path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any] | None:
        """Cloudflare's answer to path parameters or credentials it refuses; None if they pass."""
        for parameter in operation.get("parameters", []):
            value = params.get(parameter["name"], "")
            if list(self._validator(parameter["schema"]["$ref"]).iter_errors(value)):
                self._violation(f"{path}: {parameter['name']} breaks its schema")
                return 400, {}, _failure(7003, "Could not route to the URI, perhaps your object identifier is invalid?")
            if not _HEX32.fullmatch(value):
                self._violation(f"{path}: {parameter['name']} is not 32 lowercase hex characters")
        if not self._authorized(headers):
            return 401, {}, _failure(10000, "Authentication error")
        if params.get("account_id") != self.account_id:
            self._violation(f"{path}: not the configured account")
            return 403, {}, _failure(10000, "Authentication error")
        return None

    def _refuse_body(
        self, operation: dict[str, Any], path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any] | None:
        """Cloudflare's answer to a body its schema refuses; None if it passes."""
        request_body = operation.get("requestBody", {})
        if request_body.get("required") and not headers.get("content-type", "").startswith("application/json"):
            self._violation(f"{path}: body without Content-Type application/json")
            return 400, {}, _failure(10005, "Invalid content type")
        schema = request_body.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return None
        if not isinstance(body, dict):
            self._violation(f"{path}: body is not a JSON object")
            return 400, {}, _failure(10005, "Invalid request body")
        errors = [e.message for e in self._validator(schema["$ref"]).iter_errors(body)]
        known = self._fragment["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]["properties"]
        errors += [f"unknown field {name!r}" for name in body if name not in known]
        if errors:
            self._violation(f"{path}: body breaks stream_signed_token_request: {errors}")
            return 400, {}, _failure(10005, "Invalid request body: " + "; ".join(errors))
        return None

    def _mint(self, video_id: str, body: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": video_id,
            "kid": self.key_id,
            "exp": str(body.get("exp", now + 3600)),  # Cloudflare sends these as strings
            "nbf": str(body.get("nbf", now - 3600)),
        }
        if body.get("downloadable"):
            claims["downloadable"] = True
        if body.get("accessRules"):
            claims["accessRules"] = body["accessRules"]
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id, "typ": None})
        if self.record:
            with self._lock:
                self.issued_tokens.append(token)
        return {"success": True, "errors": [], "messages": [], "result": {"token": token}}

    def _keys(self, operation_id: str, params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        ok: dict[str, Any] = {"success": True, "errors": [], "messages": []}
        with self._lock:
            if operation_id == CREATE_KEY:
                return 200, {}, ok | {"result": self._new_key()}
            if operation_id == LIST_KEYS:
                listed = [{"id": key_id, "created": created} for key_id, created in self.signing_keys.items()]
                return 200, {}, ok | {"result": listed}
            if self.signing_keys.pop(params["identifier"], None) is None:
                return 404, {}, _failure(10003, "Not Found")
            return 200, {}, ok | {"result": "ok"}

    def _answer_at_once(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if not self._authorized(headers):
            return 401, {}, _failure(10000, "Authentication error")
        video_id = path.rsplit("/", 2)[-2]
        with self._lock:
            answer = self._instant_tokens.get(video_id)
        if answer is None:
            answer = self._mint(video_id, body if isinstance(body, dict) else {})
            with self._lock:
                self._instant_tokens[video_id] = answer
        return 200, {}, answer

    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self.api_token:
            return secrets.compare_digest(bearer[7:], self.api_token)
        email, key = headers.get("x-auth-email"), headers.get("x-auth-key")
        return bool(email and key and self.api_email and self.api_key) and (email, key) == (
            self.api_email,
            self.api_key,
        )

    def _next_fault(self, operation_id: str) -> Fault | None:
        with self._lock:
            scripted = self._operation_faults.get(operation_id)
            if scripted:
                return scripted.popleft()
            return self._faults.popleft() if self._faults else None

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def check_answer(self, status: int, body: Any, method: str = "POST", path: str = "") -> None:
        """The double's own answers must match the schema Cloudflare publishes for them: the
        operation's own response schema (the token's when the path matches nothing)."""
        ref = (
            "#/components/schemas/stream_signed_token_response"
            if status == 200
            else "#/components/schemas/stream_api-response-common-failure"
        )
        for meth, rx, operation in self._operations:
            if meth == method and rx.fullmatch(path):
                declared = operation["responses"].get(str(status)) or operation["responses"].get(f"{str(status)[0]}XX")
                ref = declared["content"]["application/json"]["schema"]["$ref"] if declared else ref
        if ref.rsplit("/", 1)[1] not in self._fragment["components"]["schemas"]:
            ref = FALLBACK_RESPONSE
        errors = [e.message for e in self._validator(ref).iter_errors(body)]
        if errors:
            self._violation(f"the double's own {status} answer breaks the schema: {errors}")


def _with_sdk_additions(fragment: dict[str, Any], additions: dict[str, Any]) -> dict[str, Any]:
    """The fragment with the SDKs' extra properties added to the schemas they extend (nothing else
    of the published schema changes)."""
    schemas = fragment["components"]["schemas"]
    for name, addition in additions.items():
        if not name.startswith("_"):
            schemas[name]["properties"] = schemas[name]["properties"] | addition["properties"]
    return fragment


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schemas as JSON Schema: `nullable: true` becomes a "null" type."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
    return converted


def _decoded(raw: bytes) -> Any:
    """A request body as JSON if it is JSON, else as text (None when empty)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class _Handler(BaseHTTPRequestHandler):
    """Serves one double (`double`, set on a subclass per double: see _handler_for)."""

    double: ClassVar[CloudflareDouble]
    protocol_version = "HTTP/1.1"  # keep-alive, as Cloudflare's edge does
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def _serve(self) -> None:
        with self.double._lock:
            self.double.in_flight += 1
            self.double.max_in_flight = max(self.double.max_in_flight, self.double.in_flight)
        try:
            self._answer()
        finally:
            with self.double._lock:
                self.double.in_flight -= 1

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, answer = self.double.handle(self.command, self.path, headers, raw)
        if isinstance(answer, Fault):
            self._send_fault(answer)
            return
        if status < 500 and not self.double.instant:
            self.double.check_answer(status, answer, self.command, self.path)
        self._send(status, extra, json.dumps(answer).encode())

    def _send_fault(self, fault: Fault) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        body = fault.body
        if body is None:
            body = _failure(10000 if fault.status < 500 else 10002, f"Scripted failure {fault.status}")
        data = (
            body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        content_type = "application/json" if not isinstance(body, (str, bytes)) else "text/html"
        if fault.cut_body:
            self.send_response(fault.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data) + 100))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self._send(fault.status, {"Content-Type": content_type} | fault.headers, data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json"} | headers
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
        pass


def most_in_any_span(times: list[float], seconds: float) -> int:
    """The most of `times` inside any half-open span [s, s + seconds) (sliding: every s)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def _handler_for(double: CloudflareDouble) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"double": double})
