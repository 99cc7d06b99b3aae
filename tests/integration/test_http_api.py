"""The HTTP function end to end: API Gateway v2 events into the real handler, moto's Secrets
Manager and the Cloudflare double on loopback, every outbound request checked against
Cloudflare's schema (the `double` fixture fails the test on any violation)."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from localdev.standins.apigw import http_api_event
from localdev.standins.cloudflare_double import Fault
from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE, VIDEO
from localdev.standins.stack import create_secret, secrets_client
from stream_tokens.domain.errors import ConfigurationError
from tests.support.function import emf_records
from tests.support.keys import sensitive_pem

pytestmark = pytest.mark.usefixtures("open_policy")  # what minting does, not who may

OTHER_ACCOUNT = "f" * 32


def verify(token: str, double) -> dict:
    """The token is a real JWT signed by the (double's) Cloudflare key."""
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": double.key_id}
    return jwt.decode(
        token, double.public_key, algorithms=["RS256"], options={"verify_exp": False, "verify_nbf": False}
    )


@pytest.mark.parametrize("route", ["videos", "accounts"])
def test_a_token_and_its_urls(app, double, route):
    exp = int(time.time()) + 600
    body = {
        "exp": exp,
        "downloadable": True,
        "accessRules": [{"type": "ip.src", "action": "allow", "ip": ["192.0.2.0/24"]}],
    }
    answer = app.mint(body) if route == "videos" else app.mint_in_account(body)
    assert answer.status == 200, answer.body
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json"
    assert answer.body["success"] is True
    assert answer.body["errors"] == []
    assert answer.body["messages"] == []
    result = answer.body["result"]
    token = result["token"]
    assert result["video_id"] == VIDEO
    assert result["expires_at"] == exp
    base = f"https://customer-{CUSTOMER_CODE}.cloudflarestream.com/{token}"
    assert result["urls"] == {
        "iframe": f"{base}/iframe",
        "hls": f"{base}/manifest/video.m3u8",
        "dash": f"{base}/manifest/video.mpd",
        "thumbnail": f"{base}/thumbnails/thumbnail.jpg",
        "mp4": f"{base}/downloads/default.mp4",
    }
    claims = verify(token, double)
    assert claims["sub"] == VIDEO
    assert claims["exp"] == str(exp)
    assert claims["downloadable"] is True
    (sent,) = double.token_requests()
    assert sent.path == f"/client/v4/accounts/{ACCOUNT}/stream/{VIDEO}/token"
    assert sent.headers["authorization"] == f"Bearer {double.api_token}"
    assert sent.body == {"exp": exp, "nbf": sent.body["nbf"], "downloadable": True, "accessRules": body["accessRules"]}


@pytest.mark.parametrize("body", [None, "", "{}"])
def test_no_body_or_an_empty_one_gives_cloudflares_defaults(app, double, body):
    before = int(time.time())
    answer = app.mint(body)
    assert answer.status == 200, answer.body
    result = answer.body["result"]
    assert before + 3600 <= result["expires_at"] <= int(time.time()) + 3600
    assert "mp4" not in result["urls"]
    (sent,) = double.token_requests()
    assert sent.body == {"exp": result["expires_at"], "nbf": result["expires_at"] - 7200}


def test_uppercase_ids_are_normalised_before_the_call(app, double):
    assert app.mint_in_account({}, account=ACCOUNT.upper(), video=VIDEO.upper()).status == 200
    assert double.token_requests()[0].path == f"/client/v4/accounts/{ACCOUNT}/stream/{VIDEO}/token"


def test_another_account_is_forbidden_and_never_reaches_cloudflare(app, double):
    answer = app.mint_in_account({}, account=OTHER_ACCOUNT)
    assert answer.status == 403
    assert answer.error_pointers == ["/account_id"]
    assert "not the account" in answer.body["errors"][0]["message"]
    assert answer.body["result"] is None
    assert answer.body["success"] is False
    assert double.requests == []


@pytest.mark.parametrize(
    ("path", "body", "status", "pointers"),
    [
        (f"/videos/{VIDEO}/token", '{"exp": "tomorrow"}', 400, ["/exp"]),
        (f"/videos/{VIDEO}/token", '{"exp": 1}', 400, ["/exp"]),
        (f"/videos/{VIDEO}/token", '{"downloadable": 1, "colour": "red"}', 400, ["/downloadable", "/colour"]),
        (f"/videos/{VIDEO}/token", "not json", 400, [""]),
        (f"/videos/{VIDEO}/token", "[]", 400, [""]),
        (f"/videos/{VIDEO}/token", json.dumps({"pad": "x" * 17000}), 413, [None]),
        ("/videos/xyz/token", "{}", 400, ["/identifier"]),
        (f"/videos/{VIDEO[:31]}g/token", "{}", 400, ["/identifier"]),
        ("/videos/%2e%2e/token", "{}", 400, ["/identifier"]),
        (f"/accounts/acme/stream/{VIDEO}/token", "{}", 400, ["/account_id"]),
        (f"/accounts/{ACCOUNT}/stream/..%2F..%2Fzones/token", "{}", 400, ["/identifier"]),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field_and_never_reach_cloudflare(app, double, path, body, status, pointers):
    answer = app.post(path, body)
    assert answer.status == status, answer.body
    assert answer.error_pointers == pointers
    assert all(isinstance(e["code"], int) and e["code"] >= 1000 and e["message"] for e in answer.body["errors"])
    assert double.requests == []


def test_base64_encoded_bodies_are_read(app, double):
    event = http_api_event("POST", f"/videos/{VIDEO}/token", b'{"downloadable": true}', base64_body=True)
    answer = app.invoke(event)
    assert answer.status == 200
    assert "mp4" in answer.body["result"]["urls"]


@pytest.mark.parametrize(("method", "path"), [("GET", f"/videos/{VIDEO}/token"), ("POST", "/videos"), ("POST", "/")])
def test_unknown_routes_are_404_in_the_envelope(app, double, method, path):
    answer = app.invoke(http_api_event(method, path))
    assert answer.status == 404
    assert answer.error_codes == [7003]
    assert double.requests == []


def test_legacy_email_and_key_credentials(app, double, moto_endpoint, monkeypatch):
    double.api_token = None
    double.api_email, double.api_key = "ops@example.com", "legacy-global-key-0123456789"
    arn = create_secret(
        moto_endpoint,
        f"legacy-{time.time_ns()}",
        {"account_id": ACCOUNT, "api_email": double.api_email, "api_key": double.api_key},
    )
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    assert app.mint({}).status == 200
    sent = double.token_requests()[0]
    assert (sent.headers["x-auth-email"], sent.headers["x-auth-key"]) == (double.api_email, double.api_key)
    assert "authorization" not in sent.headers


def test_in_api_mode_a_callers_signing_key_is_forwarded_to_cloudflare(app, double, monkeypatch):
    monkeypatch.setenv("SIGNING_MODE", "api")
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    pem = sensitive_pem()
    answer = app.mint({"id": "e9db990a82666dd571c77f944a5c5c8d", "pem": pem})
    assert answer.status == 200
    assert double.token_requests()[0].body["pem"] == pem


def test_the_container_keeps_one_connection_to_cloudflare(app, double):
    for _ in range(5):
        assert app.mint({}).status == 200
    assert double.connections == 1


# -- credentials (Cloudflare's other answers: test_faults.py) -----------------------------------


def test_a_rotated_token_is_picked_up_by_rereading_the_secret(app, double, secret_arn):
    from tests.support.log_hygiene import sensitive

    assert app.mint({}).status == 200
    new_token = sensitive("rotated-" + double.api_token[::-1])
    double.rotate_token(new_token)
    secrets_client(app_endpoint()).put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"account_id": ACCOUNT, "api_token": new_token})
    )
    answer = app.mint({})
    assert answer.status == 200
    auth = [r.headers["authorization"] for r in double.token_requests()]
    assert auth[-2:] == [f"Bearer {auth[0][7:]}", f"Bearer {new_token}"]  # refused once, then the new one


def test_a_token_cloudflare_refuses_even_after_the_reread_is_a_502(app, double):
    double.rotate_token("a-token-nobody-stored")
    answer = app.mint({})
    assert answer.status == 502
    assert answer.body["errors"][0]["message"].startswith("upstream credentials rejected")
    assert len(double.token_requests()) == 2  # once with the cached secret, once after re-reading it


@pytest.mark.parametrize(
    ("secret", "logged"),
    [
        ("not json at all", "not valid JSON"),
        ({"api_token": "x"}, "no account_id"),
        ({"account_id": ACCOUNT}, "neither api_token nor api_email + api_key"),
        (None, "ResourceNotFoundException"),
    ],
)
def test_a_missing_or_malformed_secret_is_a_generic_500_and_a_precise_log_line(
    app, double, moto_endpoint, monkeypatch, caplog, secret, logged
):
    if secret is None:
        arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"
    else:
        arn = create_secret(moto_endpoint, f"bad-{time.time_ns()}", secret)
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", arn)
    from stream_tokens.runtime import bootstrap

    bootstrap.reset()
    answer = app.mint({})
    assert answer.status == 500
    assert answer.body["errors"] == [{"code": 10010, "message": ConfigurationError.PUBLIC_MESSAGE}]
    assert logged not in json.dumps(answer.body)
    assert any(r.levelname == "ERROR" and logged in getattr(r, "detail", "") for r in caplog.records)
    assert double.requests == []


def test_an_unexpected_failure_is_a_500_without_a_stack_trace(app, double, monkeypatch):
    from stream_tokens.runtime import bootstrap

    service = bootstrap.token_service()

    def explode(*_, **__):
        raise RuntimeError("kaboom at line 42")

    monkeypatch.setattr(service.api, "issue", explode)
    answer = app.mint({})
    assert answer.status == 500
    text = json.dumps(answer.body)
    assert "kaboom" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


def app_endpoint() -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]


# -- observability -----------------------------------------------------------------------------


def test_metrics_count_tokens_by_issuer_with_upstream_latency(app, double, capsys):
    assert app.mint({}).status == 200
    missing, issued, cold_start, latency = emf_records(capsys)
    units = [
        {m["Name"]: m["Unit"] for m in e["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        for e in (missing, issued, cold_start, latency)
    ]
    assert units == [
        {"SigningKeyMissing": "Count"},  # SIGNING_MODE auto, and the secret holds no signing key
        {"TokensIssued": "Count"},
        {"ColdStart": "Count"},  # a new container's first invocation
        {"CloudflareShareUsed": "Percent", "UpstreamLatency": "Milliseconds"},
    ]
    assert issued["Issuer"] == "api"
    assert issued["TokensIssued"] == [1.0]
    assert latency["UpstreamLatency"][0] > 0


def test_metrics_count_errors_by_kind(app, double, capsys):
    assert app.mint({"exp": "soon"}).status == 400
    double.fail_next(*[Fault(500)] * 3)
    assert app.mint({}).status == 502
    emfs = emf_records(capsys)
    assert [(e["ErrorKind"], e["Errors"]) for e in emfs if "Errors" in e] == [
        ("InvalidRequest", [1.0]),
        ("UpstreamUnavailable", [1.0]),
    ]
    assert [len(e["UpstreamLatency"]) for e in emfs if "UpstreamLatency" in e] == [1]  # the failed call is timed too


def test_path_and_body_problems_are_listed_together(app, double):
    answer = app.post("/accounts/acme/stream/xyz/token", '{"exp": "soon", "colour": 1}')
    assert answer.status == 400
    assert answer.error_pointers == ["/identifier", "/account_id", "/exp", "/colour"]
    assert double.requests == []


def test_a_log_line_carries_the_request_id_as_correlation_id(app, double, capsys):
    capsys.readouterr()
    event = http_api_event("POST", f"/videos/{VIDEO}/token", "{}")
    assert app.invoke(event).status == 200
    printed = capsys.readouterr().out
    print(printed, end="")  # kept in the test's captured output, which the log scan reads
    issued = [json.loads(line) for line in printed.splitlines() if '"token issued"' in line]
    assert [(line["correlation_id"], line["video_id"], line["issuer"]) for line in issued] == [
        (event["requestContext"]["requestId"], VIDEO, "api")
    ]
