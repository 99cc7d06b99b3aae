"""HTTP API (payload 2.0) entry point: mint a signed Stream token for one video.

POST /accounts/{account_id}/stream/{identifier}/token   Cloudflare's own path, body and envelope
POST /videos/{identifier}/token                         the same, for the configured account
POST /videos/tokens                                     {"requests": [...]}: a token per item, in order

Thin on purpose: it adapts the API Gateway event to `stream_tokens` and back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.domain.errors import RouteNotFound
from stream_tokens.observability import logger, metrics
from stream_tokens.runtime import bootstrap, http
from stream_tokens.runtime.http import MAX_BATCH_BODY_BYTES, batch_body, decode_body

app = APIGatewayHttpResolver()


@app.post("/accounts/<account_id>/stream/<identifier>/token")
def mint_in_account(account_id: str, identifier: str) -> Response[str]:
    return _mint(identifier, account_id)


@app.post("/videos/<identifier>/token")
def mint(identifier: str) -> Response[str]:
    return _mint(identifier, None)


@app.post("/videos/tokens")
def mint_batch() -> Response[str]:
    event = app.current_event
    service = bootstrap.token_service()
    body = decode_body(event.body, base64_encoded=bool(event.is_base64_encoded), limit=MAX_BATCH_BODY_BYTES)
    requests = batch_body(body, max_items=service.policy.batch_max_items)
    outcomes = service.mint_many(requests, at="/requests", deadline=bootstrap.deadline(app.lambda_context))
    return http.batch(outcomes)


def _mint(identifier: str, account_id: str | None) -> Response[str]:
    event = app.current_event
    service = bootstrap.token_service()
    request, account = service.validate(
        identifier, lambda: decode_body(event.body, base64_encoded=bool(event.is_base64_encoded)), account_id
    )
    token = service.mint(request, account_id=account, deadline=bootstrap.deadline(app.lambda_context))
    return http.ok(token.to_json())


@app.exception_handler(Exception)
def failed(exc: Exception) -> Response[str]:
    return http.error(exc)


@app.not_found
def no_route(_: Exception) -> Response[str]:
    event = app.current_event
    return http.error(RouteNotFound(f"No route for {event.http_method} {event.path}"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
