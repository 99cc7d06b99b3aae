"""The HTTP function's routing (runtime.http_routes): a lookup of the route key API Gateway matched."""

from __future__ import annotations

from localdev.standins.apigw import LambdaContext, http_api_event
from stream_tokens.runtime.http_routes import HttpAnswer, HttpRequest, resolve


def answer(event: dict) -> dict:
    def echo(request: HttpRequest) -> HttpAnswer:
        return HttpAnswer(200, request.path_parameters["identifier"], {"Cache-Control": "no-store"})

    def broken(request: HttpRequest) -> HttpAnswer:
        raise ValueError("a route's failure")

    return resolve(
        {"POST /videos/{identifier}/token": echo, "POST /videos/tokens": broken},
        event,
        LambdaContext(),
        failed=lambda exc: HttpAnswer(500, type(exc).__name__),
        not_found=lambda request: HttpAnswer(404, request.route_key),
    )


def test_a_route_gets_api_gateways_path_parameters_and_answers_in_payload_2():
    assert answer(http_api_event("POST", "/videos/abc/token", "{}")) == {
        "statusCode": 200,
        "body": "abc",
        "isBase64Encoded": False,
        "headers": {"Cache-Control": "no-store"},
        "cookies": [],
    }


def test_the_route_key_decides_not_the_path():
    # a named stage's prefix, or any path: API Gateway already matched it, and says which route
    event = http_api_event("POST", "/prod/anything", route_key="POST /videos/{identifier}/token")
    event["pathParameters"] = {"identifier": "from-the-key"}
    assert answer(event)["body"] == "from-the-key"
    assert answer(http_api_event("POST", "/videos/abc/token", route_key="$default")) == {
        "statusCode": 404,
        "body": "$default",
        "isBase64Encoded": False,
        "headers": {},
        "cookies": [],
    }
    assert answer(http_api_event("GET", "/videos/abc/token"))["statusCode"] == 404


def test_a_routes_failure_is_an_answer():
    assert answer(http_api_event("POST", "/videos/tokens"))["body"] == "ValueError"
