"""Peer (a): the straightforward Lambda a competent engineer writes first.

No Powertools: the boto3 client is created once, but the secret is read with `get_secret_value` on
every call, and each call to Cloudflare is a `requests.post` without a session (a new connection).
It serves `POST /videos/{identifier}/token` (API Gateway HTTP API, payload 2.0) through Cloudflare's
API, with the same environment variables as the package's function.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

import boto3
import requests

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

secretsmanager = boto3.client("secretsmanager")
SECRET_ARN = os.environ["CLOUDFLARE_SECRET_ARN"]
CUSTOMER_CODE = os.environ["STREAM_CUSTOMER_CODE"]
BASE_URL = os.environ.get("CLOUDFLARE_BASE_URL", "https://api.cloudflare.com/client/v4").rstrip("/")
VIDEO_ID = re.compile(r"[0-9a-f]{32}")
FIELDS = {"exp", "nbf", "downloadable", "accessRules", "id", "pem"}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    video_id = (event.get("pathParameters") or {}).get("identifier", "")
    if not VIDEO_ID.fullmatch(video_id):
        return _answer(400, {"error": "identifier must be 32 hexadecimal characters"})
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return _answer(400, {"error": "the body is not JSON"})
    if not isinstance(body, dict) or set(body) - FIELDS:
        return _answer(400, {"error": "the body must be an object of token fields"})

    secret = json.loads(secretsmanager.get_secret_value(SecretId=SECRET_ARN)["SecretString"])
    response = requests.post(
        f"{BASE_URL}/accounts/{secret['account_id']}/stream/{video_id}/token",
        json=body,
        headers={"Authorization": f"Bearer {secret['api_token']}"},
        timeout=(2, 3),
    )
    if response.status_code != 200:
        logger.warning("Cloudflare answered %s", response.status_code)
        return _answer(502 if response.status_code >= 500 else response.status_code, {"error": "Cloudflare refused"})
    token = response.json()["result"]["token"]
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
