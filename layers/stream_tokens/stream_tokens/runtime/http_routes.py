"""API Gateway HTTP API (payload format 2.0) routing for the HTTP entry point, and its answers.

Routes are matched as Powertools' APIGatewayHttpResolver matched them: the method, and the path
(the stage's prefix taken off unless it is `$default`) against the rule, each `<name>` standing for
one segment of the same characters; a route gets its `<name>` values as keyword arguments. An
exception a route raises, and a path no route matches, are answered by the handlers given.

Powertools' event handler is not used here: importing any of its resolvers runs the package's
`__init__`, which imports every resolver (AppSync's, with asyncio, among them) and every event
class: the largest part of the HTTP function's cold start that its own work does not need.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"  # what Powertools' resolvers match for a <name>


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

    method: str
    path: str
    body: str | None
    base64_encoded: bool
    context: Any  # the Lambda context

    @classmethod
    def of(cls, event: dict[str, Any], context: Any) -> HttpRequest:
        request_context = event.get("requestContext") or {}
        path, stage = event.get("rawPath") or "/", request_context.get("stage", "$default")
        if stage != "$default" and path.startswith(f"/{stage}"):
            path = path[len(stage) + 1 :]
        method = str((request_context.get("http") or {}).get("method", "")).upper()
        return cls(method, path, event.get("body"), bool(event.get("isBase64Encoded")), context)


Route = Callable[..., HttpAnswer]


class HttpRoutes:
    def __init__(self, *, failed: Callable[[Exception], HttpAnswer], not_found: Callable[[HttpRequest], HttpAnswer]):
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.keys: list[str] = []
        """"POST /videos/<identifier>/token", ...: every route served."""
        self._failed, self._not_found = failed, not_found

    def post(self, rule: str) -> Callable[[Route], Route]:
        """Register `route(request, **<names>)` for POST `rule` (e.g. "/videos/<identifier>/token")."""

        def register(route: Route) -> Route:
            pattern = re.sub(r"<(\w+)>", lambda name: f"(?P<{name[1]}>{_SEGMENT})", rule)
            self._routes.append(("POST", re.compile(f"^{pattern}$"), route))
            self.keys.append(f"POST {rule}")
            return route

        return register

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = HttpRequest.of(event, context)
        try:
            for method, pattern, route in self._routes:
                if method == request.method and (found := pattern.match(request.path)):
                    return route(request, **found.groupdict()).to_payload()
            return self._not_found(request).to_payload()
        except Exception as exc:  # every failure is an answer in the envelope
            return self._failed(exc).to_payload()
