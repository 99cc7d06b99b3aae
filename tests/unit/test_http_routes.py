"""The HTTP function's routing (runtime.http_routes): Powertools' matching, without its import."""

from __future__ import annotations

from localdev.standins.apigw import LambdaContext, http_api_event
from stream_tokens.runtime.http_routes import HttpAnswer, HttpRequest, HttpRoutes


def routes() -> HttpRoutes:
    app = HttpRoutes(
        failed=lambda exc: HttpAnswer(500, type(exc).__name__),
        not_found=lambda request: HttpAnswer(404, f"{request.method} {request.path}"),
    )

    @app.post("/videos/<identifier>/token")
    def mint(request: HttpRequest, identifier: str) -> HttpAnswer:
        return HttpAnswer(200, identifier, {"Cache-Control": "no-store"})

    @app.post("/videos/tokens")
    def batch(request: HttpRequest) -> HttpAnswer:
        raise ValueError("a route's failure")

    return app


def test_a_route_gets_its_segment_and_answers_in_payload_2():
    answer = routes().resolve(http_api_event("POST", "/videos/abc/token", "{}"), LambdaContext())
    assert answer == {
        "statusCode": 200,
        "body": "abc",
        "isBase64Encoded": False,
        "headers": {"Cache-Control": "no-store"},
        "cookies": [],
    }


def test_other_methods_paths_and_deeper_segments_are_not_found():
    app = routes()
    for method, path in [("GET", "/videos/abc/token"), ("POST", "/videos/a/b/token"), ("POST", "/videos/abc")]:
        assert app.resolve(http_api_event(method, path), LambdaContext())["statusCode"] == 404


def test_a_named_stage_is_taken_off_the_path_and_failures_are_answers():
    event = http_api_event("POST", "/prod/videos/abc/token")
    event["requestContext"]["stage"] = "prod"
    app = routes()
    assert app.resolve(event, LambdaContext())["body"] == "abc"
    assert app.resolve(http_api_event("POST", "/videos/tokens"), LambdaContext())["body"] == "ValueError"
    assert app.keys == ["POST /videos/<identifier>/token", "POST /videos/tokens"]
