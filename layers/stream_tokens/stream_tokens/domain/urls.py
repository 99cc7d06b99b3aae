"""Signed URLs: the token goes where the video id would, on the account's customer subdomain."""

from __future__ import annotations

from .model import SignedUrls


def signed_urls(customer_code: str, downloadable: bool) -> SignedUrls:
    return SignedUrls(f"https://customer-{customer_code}.cloudflarestream.com/", downloadable)
