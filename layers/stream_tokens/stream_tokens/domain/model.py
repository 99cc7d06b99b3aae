"""The Stream token domain: what a caller asks for and what they get back."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeGuard, dataclass_transform

DEFAULT_LIFETIME = 3600  # Cloudflare's default: exp = issuing + 1 h
DEFAULT_NBF_LEAD = 3600  # Cloudflare's default: nbf = issuing - 1 h
MAX_LIFETIME = 86400  # Cloudflare's limit: exp at most 24 h after issuing
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value_object[T](cls: type[T]) -> type[T]:
    """A dataclass that type checkers hold immutable and that runs as a plain slotted dataclass,
    cheaper per token than a frozen one (docs/design/value-objects.md)."""
    return dataclass(slots=True, unsafe_hash=True)(cls)  # hashed by value, as a frozen one: never changed


def is_cloudflare_id(value: object) -> TypeGuard[str]:
    """Account, video and signing-key ids are 32 hexadecimal characters."""
    return isinstance(value, str) and _HEX32.fullmatch(value) is not None


@dataclass(frozen=True)
class AccessRule:
    type: str
    action: str
    ip: tuple[str, ...] = ()
    country: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"type": self.type, "action": self.action}
        if self.ip:
            rule["ip"] = list(self.ip)
        if self.country:
            rule["country"] = list(self.country)
        return rule


@dataclass(frozen=True)
class TokenFlags:
    """The `flags` newer Cloudflare SDKs send (`{"original": bool}`, "whether to return the original
    video without transformations"). Kept exactly as the caller sent them, `{}` and `false` included:
    what they mean is Cloudflare's to decide, so they reach it (or a token signed here) unchanged."""

    original: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {} if self.original is None else {"original": self.original}


@dataclass(frozen=True)
class SigningKey:
    """A Stream signing key: its id and the base64 PEM exactly as Cloudflare returned it."""

    id: str
    pem: str = field(repr=False)


@dataclass(frozen=True)
class NewSigningKey:
    """A Stream signing key as `POST /stream/keys` returns it, shown once: base64 of the PEM and of the JWK."""

    id: str
    pem: str = field(repr=False)
    jwk: str = field(repr=False)


@value_object
class TokenRequest:
    """A validated request for one video's token, with Cloudflare's defaults already resolved.

    Defaults are resolved here (not left to Cloudflare) so that the expiry returned to the caller
    is exactly the one in the token, whichever issuer signs it.
    """

    video_id: str
    exp: int
    nbf: int
    downloadable: bool = False
    access_rules: tuple[AccessRule, ...] = ()
    signing_key: SigningKey | None = None
    flags: TokenFlags | None = None

    def audit_members(self) -> str:
        """What the audit log says of the token, as JSON object members (never the token, nor the
        caller's key): the video (32 hex characters: nothing to escape), exp, downloadable and the
        access rules' digest. Written directly: json.dumps per token was most of the line's cost."""
        digest = access_rules_digest(self.access_rules)
        return (
            f'"video_id":"{self.video_id}","exp":{self.exp:d},'
            f'"downloadable":{"true" if self.downloadable else "false"},'
            f'"access_rules":{"null" if digest is None else chr(34) + digest + chr(34)}'
        )

    def claims(self) -> dict[str, Any]:
        """The token fields as Cloudflare's `POST .../token` body and a signed token carry them."""
        body: dict[str, Any] = {"exp": self.exp, "nbf": self.nbf}
        if self.downloadable:
            body["downloadable"] = True
        if self.access_rules:
            body["accessRules"] = [rule.to_json() for rule in self.access_rules]
        if self.flags is not None:
            body["flags"] = self.flags.to_json()
        return body


def access_rules_digest(rules: tuple[AccessRule, ...]) -> str | None:
    """A short fingerprint of a token's access rules (the same rules, the same digest), for the audit log."""
    if not rules:
        return None
    text = json.dumps([rule.to_json() for rule in rules], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_PATHS = (
    ("iframe", "/iframe"),
    ("hls", "/manifest/video.m3u8"),
    ("dash", "/manifest/video.mpd"),
    ("thumbnail", "/thumbnails/thumbnail.jpg"),
)
_DOWNLOAD = ("mp4", "/downloads/default.mp4")


@value_object
class SignedUrls:
    """Where a token plays: each URL is `origin` + the token + a path (the token goes where the
    video id would). `mp4`, the download, only when the token allows downloading."""

    origin: str  # "https://customer-<code>.cloudflarestream.com/"
    downloadable: bool = False

    def paths(self) -> tuple[tuple[str, str], ...]:
        """(name, path after the token) of each URL, in the answer's order."""
        return (*_PATHS, _DOWNLOAD) if self.downloadable else _PATHS

    def with_token(self, token: str) -> dict[str, str]:
        return {name: f"{self.origin}{token}{path}" for name, path in self.paths()}


@value_object
class SignedToken:
    """The answer: the token, when it stops working, and the URLs to play it with."""

    token: str = field(repr=False)
    video_id: str
    expires_at: int
    urls: SignedUrls = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "video_id": self.video_id,
            "expires_at": self.expires_at,
            "urls": self.urls.with_token(self.token),
        }
