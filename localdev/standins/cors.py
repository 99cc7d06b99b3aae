"""CORS as API Gateway answers it for an HTTP API configured with `x-amazon-apigateway-cors`.

API Gateway answers a preflight (OPTIONS with Origin and Access-Control-Request-Method) itself,
without a route, an authorizer or the function; to any other request carrying an allowed Origin it
adds the CORS headers, and it drops CORS headers the function itself returns
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html). The allowed
methods, headers and max age are openapi.yaml's; the origins are ALLOWED_ORIGINS, as the stack's
AllowedOrigins parameter (comma-separated, empty: no CORS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import template


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int

    @classmethod
    def configured(cls, allowed_origins: str) -> Cors | None:
        """The document's CORS settings with these origins; None when there are none (no CORS)."""
        origins = tuple(o.strip() for o in allowed_origins.split(",") if o.strip())
        if not origins:
            return None
        settings = template.api_document()["x-amazon-apigateway-cors"]["Fn::If"][1]  # its AllowCors branch
        return cls(
            origins,
            tuple(settings["allowMethods"]),
            tuple(settings["allowHeaders"]),
            tuple(settings.get("exposeHeaders", ())),
            int(settings["maxAge"]),
        )

    def allowed(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, if it may have one."""
        if origin is None:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    @staticmethod
    def is_preflight(method: str, headers: dict[str, str]) -> bool:
        return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers

    def preflight(self, headers: dict[str, str]) -> dict[str, Any]:
        """API Gateway's own answer to a preflight: 204, with the CORS headers if the origin is allowed."""
        answer: dict[str, Any] = {"statusCode": 204, "headers": {}, "body": ""}
        origin = self.allowed(headers.get("origin"))
        if origin is not None:
            answer["headers"] = {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": ",".join(self.allow_methods),
                "access-control-allow-headers": ",".join(self.allow_headers),
                "access-control-max-age": str(self.max_age),
            }
        return answer

    def on_answer(self, headers: dict[str, str], answer: dict[str, Any]) -> dict[str, Any]:
        """The function's answer as API Gateway passes it on: its own CORS headers dropped, the
        configured ones added when the request's Origin is allowed."""
        kept = {k: v for k, v in (answer.get("headers") or {}).items() if not k.lower().startswith("access-control-")}
        origin = self.allowed(headers.get("origin"))
        if origin is not None:
            kept["access-control-allow-origin"] = origin
            if self.expose_headers:
                kept["access-control-expose-headers"] = ",".join(self.expose_headers)
        return answer | {"headers": kept}
