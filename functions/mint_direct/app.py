"""Direct-invocation entry point: Lambda invoke, Step Functions, EventBridge rules and Pipes.

- one object `{"identifier": ..., <token fields>}` returns the result object (token, video_id,
  expires_at, urls); a failure raises a named error (InvalidRequest, RateLimited, ...), which is
  the errorType a Step Functions Retry or Catch matches;
- a list of such objects (EventBridge Pipes enrichment, a Step Functions Map, SQS records through a
  Pipe, a Distributed Map batch) returns a list of the same length and order, each item in the
  envelope; one bad item does not fail the others;
- an EventBridge event is read from its `detail` (the shapes: `stream_tokens.runtime.events`).

Thin on purpose: it adapts these event shapes to `stream_tokens` and back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.domain.token_requests import UncheckedRequest, batch_requests
from stream_tokens.observability import logger, metrics
from stream_tokens.runtime import bootstrap, envelope
from stream_tokens.runtime.events import direct_request
from stream_tokens.runtime.identity import direct_invoker
from stream_tokens.runtime.invocation import raising_named_errors


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@raising_named_errors
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    deadline = bootstrap.deadline(context)
    service = bootstrap.token_service()
    caller, request = direct_invoker(event), direct_request(event)
    if isinstance(request, list):
        items = batch_requests(request, at="", max_items=service.settings.batch_max_items)
        outcomes = service.mint_many(caller, items, deadline=deadline)
        return [envelope.outcome(outcome, at=f"/{i}") for i, outcome in enumerate(outcomes)]
    return service.mint(caller, UncheckedRequest.of_item(request), deadline=deadline).to_json()
