"""The event shapes of direct invocation, reduced to token requests (stream_tokens.runtime.events)."""

from __future__ import annotations

import json

from localdev.standins.examples import VIDEO
from stream_tokens.runtime.events import direct_request, distributed_map_items, eventbridge_detail, sqs_body

REQUEST = {"identifier": VIDEO, "downloadable": True}


def test_a_plain_object_or_list_is_the_request_itself():
    assert direct_request(REQUEST) == REQUEST
    assert direct_request([REQUEST, REQUEST]) == [REQUEST, REQUEST]


def test_an_eventbridge_event_is_read_from_its_detail():
    event = {"version": "0", "detail-type": "VideoPublished", "source": "my.app", "detail": REQUEST}
    assert eventbridge_detail(event) == REQUEST
    assert direct_request(event) == REQUEST
    assert eventbridge_detail({"detail": REQUEST}) == {"detail": REQUEST}  # not an EventBridge event


def test_a_distributed_map_batch_gives_every_item_the_shared_fields_it_lacks():
    batch = {
        "Items": [{"identifier": VIDEO}, {"identifier": VIDEO, "downloadable": False}, "junk"],
        "BatchInput": {"downloadable": True, "exp": 1800000000},
    }
    assert distributed_map_items(batch) == [
        {"identifier": VIDEO, "downloadable": True, "exp": 1800000000},
        {"identifier": VIDEO, "downloadable": False, "exp": 1800000000},
        "junk",  # left as it is: that item alone fails validation
    ]
    assert distributed_map_items({"Items": "not a list"}) is None
    assert distributed_map_items(REQUEST) is None


def test_sqs_records_in_a_list_are_read_from_their_json_body():
    record = {"messageId": "1", "eventSource": "aws:sqs", "body": json.dumps(REQUEST)}
    broken = {"messageId": "2", "eventSource": "aws:sqs", "body": "{not json"}
    assert direct_request([record, broken, REQUEST]) == [REQUEST, "{not json", REQUEST]
    assert sqs_body({"eventSource": "aws:s3", "body": "{}"}) == {"eventSource": "aws:s3", "body": "{}"}


def test_sqs_records_inside_a_distributed_map_batch_are_read_too():
    record = {"eventSource": "aws:sqs", "body": json.dumps(REQUEST)}
    assert direct_request({"Items": [record]}) == [REQUEST]
