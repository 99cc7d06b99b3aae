"""Peer (b): a Lambda built on Cloudflare's official Python SDK, with Powertools secret caching.

The secret is read through Powertools parameters (cached for SECRET_MAX_AGE_SECONDS), one SDK client
is kept per API token (the SDK keeps its httpx connections alive and retries as Cloudflare
intends), and `client.stream.token.create` mints the token. It serves `POST /videos/{identifier}/token`
(API Gateway HTTP API, payload 2.0) with the same environment variables as the package's function.
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import lru_cache
from typing import Any

import cloudflare
from aws_lambda_powertools.utilities import parameters
from cloudflare import Cloudflare

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

SECRET_ARN = os.environ["CLOUDFLARE_SECRET_ARN"]
CUSTOMER_CODE = os.environ["STREAM_CUSTOMER_CODE"]
SECRET_MAX_AGE = int(os.environ.get("SECRET_MAX_AGE_SECONDS", "300"))
VIDEO_ID = re.compile(r"[0-9a-f]{32}")
FIELDS = {"exp": "exp", "nbf": "nbf", "downloadable": "downloadable", "accessRules": "access_rules"}


@lru_cache(maxsize=1)
def client_for(api_token: str) -> Cloudflare:
    return Cloudflare(api_token=api_token, base_url=os.environ.get("CLOUDFLARE_BASE_URL"), timeout=5.0)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    video_id = (event.get("pathParameters") or {}).get("identifier", "")
    if not VIDEO_ID.fullmatch(video_id):
        return _answer(400, {"error": "identifier must be 32 hexadecimal characters"})
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return _answer(400, {"error": "the body is not JSON"})
    if not isinstance(body, dict) or set(body) - set(FIELDS):
        return _answer(400, {"error": "the body must be an object of token fields"})

    secret: Any = parameters.get_secret(SECRET_ARN, transform="json", max_age=SECRET_MAX_AGE)
    try:
        created = client_for(secret["api_token"]).stream.token.create(
            video_id, account_id=secret["account_id"], **{FIELDS[name]: value for name, value in body.items()}
        )
    except cloudflare.APIStatusError as exc:
        logger.warning("Cloudflare answered %s", exc.status_code)
        return _answer(502 if exc.status_code >= 500 else exc.status_code, {"error": "Cloudflare refused"})
    token = created.token if created is not None else None
    if not token:
        return _answer(502, {"error": "Cloudflare answered without a token"})
    logger.info("token issued for %s", video_id)
    base = f"https://customer-{CUSTOMER_CODE}.cloudflarestream.com/{token}"
    urls = {
        "iframe": f"{base}/iframe",
        "hls": f"{base}/manifest/video.m3u8",
        "dash": f"{base}/manifest/video.mpd",
        "thumbnail": f"{base}/thumbnails/thumbnail.jpg",
    }
    if body.get("downloadable"):
        urls["mp4"] = f"{base}/downloads/default.mp4"
    return _answer(200, {"token": token, "video_id": video_id, "urls": urls})


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }
