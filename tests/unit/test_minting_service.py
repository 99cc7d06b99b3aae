"""The minting service through its seams: in-memory credentials and issuers, no moto, no HTTP."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from localdev.standins.examples import ACCOUNT, CUSTOMER_CODE, VIDEO
from localdev.standins.signing_keys import new_signing_key
from stream_tokens.adapters.quotas import ContainerQuotas
from stream_tokens.domain.callers import direct_caller
from stream_tokens.domain.credentials import CloudflareCredentials
from stream_tokens.domain.errors import (
    AccountMismatch,
    ConfigurationError,
    InvalidRequest,
    RateLimited,
    UpstreamAuthRejected,
    UpstreamCredentialsRejected,
    UpstreamUnavailable,
)
from stream_tokens.domain.model import SignedToken
from stream_tokens.domain.policy import ANY, Callers, Lifetime, Policy, Rule
from stream_tokens.domain.token_requests import BatchItem, UncheckedRequest, batch_requests
from stream_tokens.services.authorization import Authorization, FixedPolicy
from stream_tokens.services.minting import MintingSettings, TokenService
from tests.support.fakes import FakeCredentials, FakeIssuer

NOW = 1_800_000_000
OPEN = Policy((Rule("open", Callers(anyone=True), ANY, Lifetime(3600, 86400), downloadable=True, caller_keys=True),))
"""A policy that lets anyone mint anything (the policy's own tests are test_policy.py)."""
BACKEND = direct_caller("lambda:invoke")
VIDEOS = [f"{n:032x}" for n in range(1, 6)]
API_ONLY = CloudflareCredentials(ACCOUNT, api_token="token-one")


def service(
    *versions: CloudflareCredentials, mode: str = "auto", concurrency: int = 1, api: FakeIssuer | None = None
) -> tuple[TokenService, FakeCredentials, FakeIssuer, FakeIssuer]:
    credentials = FakeCredentials(*(versions or (API_ONLY,)))
    api = api or FakeIssuer("api", remote=True)
    local = FakeIssuer("local", remote=False)
    settings = MintingSettings(CUSTOMER_CODE, mode, upstream_concurrency=concurrency, batch_max_items=100)
    authorization = Authorization(FixedPolicy(OPEN), {}, ContainerQuotas(clock=lambda: NOW))
    minting = TokenService(settings, credentials=credentials, api=api, local=local, authorization=authorization)
    minting.clock = lambda: NOW
    return minting, credentials, api, local


def batch(items: Sequence[object]) -> list[BatchItem]:
    return batch_requests(items, at="/requests", max_items=100)


def deadline() -> float:
    return time.monotonic() + 5


def test_one_token_with_its_urls_and_the_expiry_that_was_signed():
    minting, _, api, _ = service()
    sent = UncheckedRequest(VIDEO, {"exp": NOW + 600, "downloadable": True}, ACCOUNT.upper())
    token = minting.mint(BACKEND, sent, deadline=deadline())
    assert token.token == f"api:{VIDEO}"
    assert token.expires_at == NOW + 600
    urls = token.to_json()["urls"]
    assert urls["iframe"] == f"https://customer-{CUSTOMER_CODE}.cloudflarestream.com/api:{VIDEO}/iframe"
    assert "mp4" in urls
    assert [issued[0].exp for issued in api.issued] == [NOW + 600]


def test_defaults_are_resolved_before_the_issuer_sees_the_request():
    minting, _, api, _ = service()
    minting.mint(BACKEND, UncheckedRequest(VIDEO, {}), deadline=deadline())
    assert (api.issued[0][0].exp, api.issued[0][0].nbf) == (NOW + 3600, NOW - 3600)


def test_another_account_is_refused_before_anything_is_signed():
    minting, _, api, local = service()
    with pytest.raises(AccountMismatch):
        minting.mint(BACKEND, UncheckedRequest(VIDEO, {}, "f" * 32), deadline=deadline())
    assert api.issued == []
    assert local.issued == []


@pytest.mark.parametrize(
    ("mode", "secret_has_key", "expected"),
    [("auto", False, "api"), ("auto", True, "local"), ("local", False, "local"), ("api", True, "api")],
)
def test_the_signing_mode_and_the_key_at_hand_choose_the_issuer(mode, secret_has_key, expected):
    credentials = CloudflareCredentials(ACCOUNT, api_token="t", signing_key=object() if secret_has_key else None)  # type: ignore[arg-type]
    minting, _, _, _ = service(credentials, mode=mode)
    assert minting.mint(BACKEND, UncheckedRequest(VIDEO, {}), deadline=deadline()).token == f"{expected}:{VIDEO}"


def test_a_refused_token_re_reads_the_secret_once_and_mints_with_the_new_credentials():
    rotated = CloudflareCredentials(ACCOUNT, api_token="token-two")

    def refuse_the_old_token(credentials: CloudflareCredentials) -> Exception | None:
        return UpstreamAuthRejected(401) if credentials.api_token == "token-one" else None

    api = FakeIssuer("api", remote=True, answers={VIDEO: refuse_the_old_token})
    minting, credentials, _, _ = service(API_ONLY, rotated, api=api)
    assert minting.mint(BACKEND, UncheckedRequest(VIDEO, {}), deadline=deadline()).token == f"api:{VIDEO}"
    assert credentials.refreshes == 1
    assert [issued[1].api_token for issued in api.issued] == ["token-one", "token-two"]


def test_credentials_refused_twice_are_a_named_error_and_no_third_attempt():
    api = FakeIssuer("api", remote=True, answers={VIDEO: UpstreamAuthRejected(403)})
    minting, credentials, _, _ = service(api=api)
    with pytest.raises(UpstreamCredentialsRejected, match="HTTP 403"):
        minting.mint(BACKEND, UncheckedRequest(VIDEO, {}), deadline=deadline())
    assert len(api.issued) == 2
    assert credentials.refreshes == 1


def test_a_batch_answers_every_item_in_order_each_with_its_own_outcome():
    api = FakeIssuer("api", remote=True, answers={VIDEOS[1]: UpstreamUnavailable("Cloudflare failed with HTTP 502")})
    minting, _, _, _ = service(api=api)
    items = [{"identifier": VIDEOS[0]}, {"identifier": VIDEOS[1]}, {"identifier": "nope"}, {"identifier": VIDEOS[2]}]
    outcomes = minting.mint_many(BACKEND, batch(items), deadline=deadline())
    assert [type(o).__name__ for o in outcomes] == [
        "SignedToken",
        "UpstreamUnavailable",
        "InvalidRequest",
        "SignedToken",
    ]
    invalid = outcomes[2]
    assert isinstance(invalid, InvalidRequest)
    assert [d.pointer for d in invalid.details] == ["/identifier"]  # the entry point roots it in the batch
    assert len(api.issued) == 3  # the invalid item never reached an issuer


def test_a_rate_limited_item_stops_the_batch_and_the_rest_are_not_sent():
    limited = RateLimited("Cloudflare's API rate limit was reached; try again later", retry_after=300)
    api = FakeIssuer("api", remote=True, answers={VIDEOS[1]: limited})
    minting, _, _, _ = service(api=api, concurrency=1)
    outcomes = minting.mint_many(BACKEND, batch([{"identifier": video} for video in VIDEOS[:4]]), deadline=deadline())
    assert isinstance(outcomes[0], SignedToken)
    assert outcomes[1] is limited
    for skipped in outcomes[2:]:
        assert isinstance(skipped, RateLimited)
        assert skipped.retry_after == 300
        assert "not sent" in skipped.message
    assert [issued[0].video_id for issued in api.issued] == VIDEOS[:2]
    assert all(issued[2].halt is not None for issued in api.issued)  # every call of the batch shares the halt


def test_local_items_of_a_batch_are_signed_even_when_cloudflare_limits_the_others():
    limited = RateLimited("share used up", retry_after=5)
    api = FakeIssuer("api", remote=True, answers={VIDEOS[0]: limited})
    minting, _, _, local = service(api=api)
    key = new_signing_key()
    items = [
        {"identifier": VIDEOS[0]},
        {"identifier": VIDEOS[1], "id": key["id"], "pem": key["pem"]},  # a caller's key: signed here in auto mode
        {"identifier": VIDEOS[2]},
    ]
    outcomes = minting.mint_many(BACKEND, batch(items), deadline=deadline())
    assert outcomes[0] is limited
    assert isinstance(outcomes[1], SignedToken)
    assert outcomes[1].token == f"local:{VIDEOS[1]}"
    assert isinstance(outcomes[2], RateLimited)  # not sent: the halt holds for the API items after the 429
    assert [issued[0].video_id for issued in local.issued] == [VIDEOS[1]]


def test_a_configuration_error_fails_the_whole_batch():
    api = FakeIssuer("api", remote=True, answers={VIDEOS[1]: ConfigurationError("the secret is broken")})
    minting, _, _, _ = service(api=api)
    with pytest.raises(ConfigurationError):
        minting.mint_many(BACKEND, batch([{"identifier": VIDEOS[0]}, {"identifier": VIDEOS[1]}]), deadline=deadline())


def test_the_issuer_is_chosen_once_per_item():
    minting, _, _, _ = service()
    chosen: list[str] = []
    choose = minting.issuer_for

    def counting(request, credentials):
        chosen.append(request.video_id)
        return choose(request, credentials)

    minting.issuer_for = counting  # type: ignore[method-assign]
    minting.mint_many(BACKEND, batch([{"identifier": video} for video in VIDEOS[:3]]), deadline=deadline())
    assert chosen == VIDEOS[:3]
