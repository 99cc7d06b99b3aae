"""HTTP API (payload 2.0) entry point: mint a signed Stream token for one video.

POST /accounts/{account_id}/stream/{identifier}/token   Cloudflare's own path, body and envelope
POST /videos/{identifier}/token                         the same, for the configured account
POST /videos/tokens                                     {"requests": [...]}: a token per item, in order

Thin on purpose: it adapts the API Gateway event to `stream_tokens` and back (routing with
`runtime.http_routes`, not Powertools' event handler, whose import costs the cold start most).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.domain.errors import RouteNotFound
from stream_tokens.observability import logger, metrics
from stream_tokens.runtime import bootstrap, http
from stream_tokens.runtime.http import MAX_BATCH_BODY_BYTES, batch_body, decode_body
from stream_tokens.runtime.http_routes import HttpAnswer, HttpRequest, HttpRoutes


def no_route(request: HttpRequest) -> HttpAnswer:
    return http.error(RouteNotFound(f"No route for {request.method} {request.path}"))


app = HttpRoutes(failed=http.error, not_found=no_route)


@app.post("/accounts/<account_id>/stream/<identifier>/token")
def mint_in_account(request: HttpRequest, account_id: str, identifier: str) -> HttpAnswer:
    return _mint(request, identifier, account_id)


@app.post("/videos/<identifier>/token")
def mint(request: HttpRequest, identifier: str) -> HttpAnswer:
    return _mint(request, identifier, None)


@app.post("/videos/tokens")
def mint_batch(request: HttpRequest) -> HttpAnswer:
    service = bootstrap.token_service()
    body = decode_body(request.body, base64_encoded=request.base64_encoded, limit=MAX_BATCH_BODY_BYTES)
    requests = batch_body(body, max_items=service.policy.batch_max_items)
    outcomes = service.mint_many(requests, at="/requests", deadline=bootstrap.deadline(request.context))
    return http.batch(outcomes)


def _mint(request: HttpRequest, identifier: str, account_id: str | None) -> HttpAnswer:
    service = bootstrap.token_service()
    token_request, account = service.validate(
        identifier, lambda: decode_body(request.body, base64_encoded=request.base64_encoded), account_id
    )
    token = service.mint(token_request, account_id=account, deadline=bootstrap.deadline(request.context))
    return http.token(token)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
