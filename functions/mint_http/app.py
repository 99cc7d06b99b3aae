"""HTTP API (payload 2.0) entry point: mint a signed Stream token for one video.

POST /accounts/{account_id}/stream/{identifier}/token   Cloudflare's own path, body and envelope
POST /videos/{identifier}/token                         the same, for the configured account
POST /videos/tokens                                     {"requests": [...]}: a token per item, in order

Thin on purpose: it adapts the API Gateway event to `stream_tokens` and back, routing on the route
API Gateway matched (`runtime.http_routes`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.domain.errors import RouteNotFound
from stream_tokens.observability import logger, metrics
from stream_tokens.runtime import bootstrap, http
from stream_tokens.runtime.http_routes import HttpAnswer, HttpRequest, Route, resolve


def mint(request: HttpRequest) -> HttpAnswer:
    service = bootstrap.token_service()
    token = service.mint(request.caller, http.sent_request(request), deadline=bootstrap.deadline(request.context))
    return http.token(token)


def mint_batch(request: HttpRequest) -> HttpAnswer:
    service = bootstrap.token_service()
    requests = http.batch_body(request, max_items=service.settings.batch_max_items)
    return http.batch(service.mint_many(request.caller, requests, deadline=bootstrap.deadline(request.context)))


def no_route(request: HttpRequest) -> HttpAnswer:
    return http.error(RouteNotFound(f"No route for {request.route_key}"))


ROUTES: dict[str, Route] = {
    "POST /accounts/{account_id}/stream/{identifier}/token": mint,
    "POST /videos/{identifier}/token": mint,
    "POST /videos/tokens": mint_batch,
}
"""Every route of openapi.yaml, by the route key API Gateway hands over."""


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(ROUTES, event, context, failed=http.error, not_found=no_route)
