"""Direct-invocation entry point: Lambda invoke, Step Functions, EventBridge rules and Pipes.

- one object `{"identifier": ..., <token fields>}` returns the result object (token, video_id,
  expires_at, urls); a failure raises a named error (InvalidRequest, RateLimited, ...), which is
  the errorType a Step Functions Retry or Catch matches;
- a list of such objects (EventBridge Pipes enrichment, a Step Functions Map) returns a list of the
  same length and order, each item in the envelope; one bad item does not fail the others; SQS
  records (a Pipe with an SQS source) are read from their JSON `body`;
- a Step Functions Distributed Map batch `{"Items": [...], "BatchInput": {...}}` is such a list,
  with the BatchInput fields given to every item (an item's own fields win);
- an EventBridge event is read from its `detail`.

Thin on purpose: it adapts these event shapes to `stream_tokens` and back.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens import envelope, observability, runtime
from stream_tokens.observability import logger, metrics
from stream_tokens.validation import batch_items

EVENTBRIDGE_KEYS = frozenset({"detail-type", "source", "detail"})


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    deadline = runtime.deadline(context)
    try:
        service = runtime.token_service()
        request = event["detail"] if isinstance(event, dict) and event.keys() >= EVENTBRIDGE_KEYS else event
        if isinstance(request, dict) and isinstance(request.get("Items"), list):
            shared = request.get("BatchInput")
            shared = shared if isinstance(shared, dict) else {}
            request = [shared | item if isinstance(item, dict) else item for item in request["Items"]]
        if isinstance(request, list):
            items = batch_items(request, at="", max_items=service.settings.batch_max_items)
            outcomes = service.mint_many([_sqs_body(item) for item in items], deadline=deadline)
            return [envelope.outcome(outcome) for outcome in outcomes]
        token_request, account = service.validate_item(request)
        return service.mint(token_request, account_id=account, deadline=deadline).to_json()
    except Exception as exc:
        raise observability.refused(exc).with_traceback(None) from None  # no layer frames in Lambda's report


def _sqs_body(item: Any) -> Any:
    """A Pipe with an SQS source hands over SQS records: the request is the record's JSON body
    (a body that is not JSON stays text, and that item alone fails as not an object)."""
    if not (isinstance(item, dict) and item.get("eventSource") == "aws:sqs" and isinstance(item.get("body"), str)):
        return item
    try:
        return json.loads(item["body"])
    except ValueError:
        return item["body"]
