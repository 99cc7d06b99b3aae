"""Signed URLs: the token goes where the video id would, on the account's customer subdomain."""

from __future__ import annotations

from .model import SignedUrls


def signed_urls(token: str, customer_code: str, downloadable: bool) -> SignedUrls:
    base = f"https://customer-{customer_code}.cloudflarestream.com/{token}"
    return SignedUrls(
        iframe=f"{base}/iframe",
        hls=f"{base}/manifest/video.m3u8",
        dash=f"{base}/manifest/video.mpd",
        thumbnail=f"{base}/thumbnails/thumbnail.jpg",
        mp4=f"{base}/downloads/default.mp4" if downloadable else None,
    )
