"""API Gateway HTTP API (payload format 2.0) routing for the HTTP entry point, and its answers.

API Gateway has already matched the request to a route of `openapi.yaml` and hands over what it
decided: `routeKey` ("POST /videos/{identifier}/token") and `pathParameters`. Routing is a lookup
of the route key; an exception a route raises, and a key no route has, are answered by the
handlers given. (Powertools' event handler is not used: importing any of its resolvers imports
them all, the largest part of the HTTP function's cold start that its own work does not need.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..domain.callers import ANYONE, Caller
from .identity import http_caller


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """The payload format 2.0 answer Lambda hands back to API Gateway."""
        return {
            "statusCode": self.status,
            "body": self.body,
            "isBase64Encoded": False,
            "headers": self.headers,
            "cookies": [],
        }


@dataclass(frozen=True)
class HttpRequest:
    """What a route reads of the event."""

    route_key: str
    path_parameters: Mapping[str, str]
    body: str | None
    base64_encoded: bool
    context: Any  # the Lambda context
    caller: Caller = ANYONE

    @classmethod
    def of(cls, event: Mapping[str, Any], context: Any) -> HttpRequest:
        return cls(
            str(event.get("routeKey", "")),
            event.get("pathParameters") or {},
            event.get("body"),
            bool(event.get("isBase64Encoded")),
            context,
            http_caller(event),
        )


Route = Callable[[HttpRequest], HttpAnswer]


def resolve(
    routes: Mapping[str, Route],
    event: Mapping[str, Any],
    context: Any,
    *,
    failed: Callable[[Exception], HttpAnswer],
    not_found: Callable[[HttpRequest], HttpAnswer],
) -> dict[str, Any]:
    """The answer of the route API Gateway chose; every failure is an answer too."""
    request = HttpRequest.of(event, context)
    try:
        route = routes.get(request.route_key)
        return (not_found(request) if route is None else route(request)).to_payload()
    except Exception as exc:
        return failed(exc).to_payload()
