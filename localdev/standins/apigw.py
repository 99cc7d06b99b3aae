"""API Gateway HTTP API (payload format 2.0) events and Lambda contexts, as AWS builds them."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import template

API_ID = "a1b2c3d4e5"
AWS_ACCOUNT = "123456789012"


class DefaultAuthorizer:
    """The authorizer an event gets unless told otherwise: IAM's, as the template's default AuthMode."""


DEFAULT = DefaultAuthorizer()


def http_api_event(
    method: str,
    raw_path: str,
    body: str | bytes | None = None,
    *,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_query: str = "",
    source_ip: str = "198.51.100.7",
    base64_body: bool = False,
    authorizer: dict[str, Any] | DefaultAuthorizer | None = DEFAULT,
) -> dict[str, Any]:
    """An HTTP API v2 event for one request, as the `$default` stage hands it to Lambda: with the
    key and path parameters of the openapi.yaml route it matches, unless they are given, and the
    caller as the stack's default AuthMode (IAM) hands it over (`authorizer=None`: AuthMode NONE)."""
    if route_key is None:
        route_key, matched = matched_route(method, raw_path)
        path_parameters = matched if path_parameters is None else path_parameters
    now = time.time()
    request_id = uuid.uuid4().hex[:16] + "="
    event_headers = {
        "accept": "*/*",
        "content-type": "application/json",
        "host": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    } | {k.lower(): v for k, v in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": event_headers,
        "requestContext": {
            "accountId": AWS_ACCOUNT,
            "apiId": API_ID,
            "domainName": event_headers["host"],
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": event_headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if isinstance(authorizer, DefaultAuthorizer):
        authorizer = iam_authorizer()
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body is not None:
        data = body.encode() if isinstance(body, str) else body
        event["body"] = base64.b64encode(data).decode() if base64_body else data.decode("utf-8", "replace")
    return event


def iam_authorizer(role: str = "video-backend", account: str = AWS_ACCOUNT) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway hands it over for a SigV4-signed request (AuthMode IAM)."""
    return {
        "iam": {
            "accessKey": "ASIA" + "X" * 16,
            "accountId": account,
            "callerId": "AROA" + "X" * 17 + ":session",
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:sts::{account}:assumed-role/{role}/session",
            "userId": "AROA" + "X" * 17 + ":session",
        }
    }


def jwt_authorizer(claims: dict[str, str], scopes: list[str] | None = None) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway's JWT authorizer hands it over (claims already strings)."""
    return {"jwt": {"claims": claims, "scopes": scopes}}


def matched_route(method: str, raw_path: str) -> tuple[str, dict[str, str] | None]:
    """The key and path parameters of the openapi.yaml route API Gateway would match; `$default`
    (and none) when no route matches."""
    for route in template.routes():
        params = route.match(method, raw_path)
        if params is not None:
            return route.key, params
    return "$default", None


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context`, with a real countdown to the timeout."""

    function_name: str = "stream-signed-urls-mint-http"
    timeout_seconds: float = 10.0
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{AWS_ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return time.strftime("%Y/%m/%d/[$LATEST]") + "0" * 32

    function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))
