"""The implementation answers as openapi.yaml says: schemathesis against `make run`, over loopback.

For every operation of the document, schemathesis generates requests: valid ones (positive) and
ones that break the document (negative: wrong types, unknown fields, bad identifiers, broken
access rules). Every answer must be a documented status with the documented headers, content type
and schema; a request the document refuses must be refused (4xx); nothing may get a 5xx. Bounded:
a fixed number of examples per operation and mode, a per-request timeout, loopback only.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from localdev.standins.template import client_api_document
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run

EXAMPLES = 60  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
statuses: dict[str, dict[int, int]] = {}


@pytest.fixture(scope="module", params=["auto", "api"], ids=["local-signing", "api-mode"])
def make_run(request: pytest.FixtureRequest) -> Iterator[str]:
    """`make run` signing locally (its default), then with every token from the Cloudflare double."""
    port = free_port()
    process = start_make_run(port, {"SIGNING_MODE": request.param})
    printed = read_banner(process)
    # its log lines keep coming: read them, or the pipe fills and the server blocks
    output = process.stdout
    assert output is not None
    reader = threading.Thread(target=lambda: printed.extend(output), daemon=True)
    reader.start()
    try:
        assert f"http://127.0.0.1:{port}" in "".join(printed), "".join(printed)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        reader.join(timeout=10)
        print("".join(printed))  # into the captured output, which the log scan reads


# `make run` has no authorizer: the document as deployed with AuthMode NONE (authorization is API
# Gateway's, IAM or JWT, which `make run` does not stand in for: not generated).
schema = schemathesis.openapi.from_dict(client_api_document({"AuthMode": "NONE"}))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES, with_security_parameters=False
)
# a body over the size limit is refused before its content is read: 413 is a refusal too
rejection = schema.config.checks.negative_data_rejection
rejection.expected_statuses = [*rejection.expected_statuses, "413"]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_every_answer_matches_the_document(case, make_run):
    with requests.Session() as session:
        response = case.call(base_url=make_run, session=session, timeout=10)
    body = response.json()
    for token in re.findall(r'"token":"([^"]+)"', response.text):  # for the log scan
        sensitive(token)
    counts = statuses.setdefault(f"{case.operation.label} {case.meta.generation.mode.value}", {})
    counts[response.status_code] = counts.get(response.status_code, 0) + 1
    if case.operation.path == "/videos/tokens":  # a batch refuses broken items one by one, in a 200
        case.validate_response(response, checks=[c for c in CHECKS if c is not negative_data_rejection])
        # a JSON body sent under another content type is still read as JSON (as the document says)
        sent_as = {k.lower(): v for k, v in (case.headers or {}).items()}.get("content-type", case.media_type)
        if case.meta.generation.mode.value == "negative" and sent_as == "application/json":
            sent = case.as_curl_command()
            if response.status_code == 200:
                assert any(item["status"] == 400 for item in body["result"] if not item["success"]), sent
            else:
                assert 400 <= response.status_code < 500, sent
    else:
        case.validate_response(response, checks=CHECKS)


def test_both_kinds_of_answer_were_seen():
    """The generated requests reached the function both ways (this runs after the generated tests)."""
    if not statuses:
        pytest.skip("runs after the generated tests of this module")
    print(json.dumps(statuses, sort_keys=True))
    for operation in ("POST /videos/{identifier}/token", "POST /accounts/{account_id}/stream/{identifier}/token"):
        assert statuses[f"{operation} positive"].get(200, 0) > 0, statuses
        assert statuses[f"{operation} negative"].get(400, 0) > 0, statuses
    assert statuses["POST /videos/tokens positive"].get(200, 0) > 0, statuses
