"""The event shapes of direct invocation (Lambda invoke, Step Functions, EventBridge, Pipes),
reduced to what minting takes: one token request object, or a list of them.

- an EventBridge event is read from its `detail`;
- a Step Functions Distributed Map batch `{"Items": [...], "BatchInput": {...}}` is the list of its
  items, with the BatchInput fields given to every item (an item's own fields win);
- in a list, an SQS record (a Pipe with an SQS source) is read from its JSON `body`.
"""

from __future__ import annotations

import json
from typing import Any

EVENTBRIDGE_KEYS = frozenset({"detail-type", "source", "detail"})


def direct_request(event: Any) -> Any:
    """The token request (an object) or requests (a list) that a direct invocation carries."""
    request = eventbridge_detail(event)
    items = distributed_map_items(request)
    request = request if items is None else items
    return [sqs_body(item) for item in request] if isinstance(request, list) else request


def eventbridge_detail(event: Any) -> Any:
    """An EventBridge event's `detail`; any other event as it is."""
    return event["detail"] if isinstance(event, dict) and event.keys() >= EVENTBRIDGE_KEYS else event


def distributed_map_items(event: Any) -> list[Any] | None:
    """A Step Functions Distributed Map batch's items, each with the BatchInput fields it lacks;
    None for any other event."""
    if not (isinstance(event, dict) and isinstance(event.get("Items"), list)):
        return None
    shared = event.get("BatchInput")
    shared = shared if isinstance(shared, dict) else {}
    return [shared | item if isinstance(item, dict) else item for item in event["Items"]]


def sqs_body(item: Any) -> Any:
    """An SQS record's request is its JSON body (a body that is not JSON stays text, and that
    item alone then fails as not an object); anything else is the request itself."""
    if not (isinstance(item, dict) and item.get("eventSource") == "aws:sqs" and isinstance(item.get("body"), str)):
        return item
    try:
        return json.loads(item["body"])
    except ValueError:
        return item["body"]
