from __future__ import annotations

from localdev.standins.examples import CUSTOMER_CODE, VIDEO
from stream_tokens.domain.errors import ErrorDetail
from stream_tokens.domain.model import SignedToken
from stream_tokens.domain.urls import signed_urls
from stream_tokens.runtime import envelope

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


def test_signed_urls_put_the_token_where_the_video_id_goes():
    urls = signed_urls(CUSTOMER_CODE, downloadable=False)
    base = f"https://customer-{CUSTOMER_CODE}.cloudflarestream.com/{TOKEN}"
    assert urls.with_token(TOKEN) == {
        "iframe": f"{base}/iframe",
        "hls": f"{base}/manifest/video.m3u8",
        "dash": f"{base}/manifest/video.mpd",
        "thumbnail": f"{base}/thumbnails/thumbnail.jpg",
    }


def test_the_mp4_link_only_when_downloadable():
    urls = signed_urls("abc", downloadable=True).with_token(TOKEN)
    assert urls["mp4"] == f"https://customer-abc.cloudflarestream.com/{TOKEN}/downloads/default.mp4"


def test_the_result_and_the_envelopes_have_cloudflares_shape():
    token = SignedToken(TOKEN, VIDEO, 1800000000, signed_urls("abc", False))
    assert envelope.success(token.to_json()) == {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {
            "token": TOKEN,
            "video_id": VIDEO,
            "expires_at": 1800000000,
            "urls": signed_urls("abc", False).with_token(TOKEN),
        },
    }
    assert envelope.failure([ErrorDetail(10014, "exp must be in the future", "/exp"), ErrorDetail(7003, "x")]) == {
        "success": False,
        "errors": [
            {"code": 10014, "message": "exp must be in the future", "source": {"pointer": "/exp"}},
            {"code": 7003, "message": "x"},
        ],
        "messages": [],
        "result": None,
    }


def test_the_token_is_kept_out_of_reprs():
    token = SignedToken(TOKEN, "v", 1, signed_urls("abc", False))
    assert TOKEN not in repr(token)
