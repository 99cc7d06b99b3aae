"""Every way minting can fail, as types.

Each type maps to one HTTP status and one error code, and this module is the only table of them
(docs/calling/errors.md is this table, in prose). Entry points translate these into their own
answer shape; the domain only raises them.

Codes are in the 10000s like Cloudflare's own; a caller can match on them. Errors that Cloudflare
itself answered with (404, 4xx) carry Cloudflare's codes and messages through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# Codes of single field errors inside an InvalidRequest.
BODY_NOT_JSON = 10011
BODY_NOT_OBJECT = 10012
UNKNOWN_FIELD = 10013
INVALID_VALUE = 10014
INVALID_IDENTIFIER = 10015


@dataclass(frozen=True)
class ErrorDetail:
    """One item of the envelope's `errors`: a code, a human message, and the field it is about."""

    code: int
    message: str
    pointer: str | None = None

    def to_json(self) -> dict[str, object]:
        item: dict[str, object] = {"code": self.code, "message": self.message}
        if self.pointer is not None:
            item["source"] = {"pointer": self.pointer}
        return item


class StreamTokenError(Exception):
    """Base of every failure the caller is told about. `message` is safe to show the caller."""

    status: ClassVar[int] = 500
    code: ClassVar[int] = 10000

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or [ErrorDetail(self.code, message)]
        self.audit: dict[str, object] = {}
        """Who was refused, under which rule, for which video (set by the minting service, for the log)."""

    @property
    def kind(self) -> str:
        return type(self).__name__


class InternalError(StreamTokenError):
    """Something unexpected failed; it is logged with its stack trace, never shown."""

    status, code = 500, 10000

    def __init__(self) -> None:
        super().__init__("Internal error; the operator has been told.")


class InvalidRequest(StreamTokenError):
    """The request breaks the token schema; `details` lists every field that does."""

    status, code = 400, 10001

    def __init__(self, details: list[ErrorDetail]) -> None:
        super().__init__(
            "; ".join(d.message + (f" (at {d.pointer or '/'})" if d.pointer is not None else "") for d in details),
            details,
        )


class PayloadTooLarge(StreamTokenError):
    status, code = 413, 10002


class AccountMismatch(StreamTokenError):
    status, code = 403, 10003


class RouteNotFound(StreamTokenError):
    status, code = 404, 7003  # Cloudflare's own code for "No route for the URI"


class VideoNotFound(StreamTokenError):
    """Cloudflare does not know the video (in this account)."""

    status, code = 404, 10004


class RateLimited(StreamTokenError):
    """Cloudflare's API rate limit was hit; `retry_after`: seconds until a retry can succeed."""

    status, code = 429, 10005

    def __init__(self, message: str, details: list[ErrorDetail] | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class NotPermitted(StreamTokenError):
    """The minting policy refuses: no rule admits the caller, the caller is not entitled to the video,
    or the rule does not allow what was asked (`details` name the fields). `rule` is the rule's name.
    Refusals are decided before any call to Cloudflare, so they never tell whether a video exists."""

    status, code = 403, 10017
    NO_RULE, NOT_ENTITLED, NOT_ALLOWED, BATCH_SIZE = "no_rule", "not_entitled", "not_allowed", "batch_size"

    def __init__(self, rule: str, details: list[ErrorDetail], reason: str = NOT_ALLOWED) -> None:
        super().__init__("; ".join(detail.message for detail in details), details)
        self.rule = rule
        self.reason = reason


class QuotaExceeded(RateLimited):
    """The caller has minted all the tokens a rule's quota allows in its window."""

    status, code = 429, 10018
    reason = "quota"

    def __init__(self, rule: str, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.rule = rule


class EntitlementsUnavailable(StreamTokenError):
    """The entitlements table or function could not answer: no token (the policy fails closed)."""

    status, code = 503, 10019


class QuotaUnavailable(StreamTokenError):
    """The quota table could not count: no token (a quota fails closed)."""

    status, code = 503, 10020


class UpstreamRejectedRequest(StreamTokenError):
    """Cloudflare refused the request as the caller's fault (a 4xx other than 401/403/404/429)."""

    status, code = 400, 10006


class UpstreamCredentialsRejected(StreamTokenError):
    """Cloudflare refused the stored credentials, even after re-reading the secret."""

    status, code = 502, 10007

    @classmethod
    def after(cls, refused: UpstreamAuthRejected, credentials: str) -> UpstreamCredentialsRejected:
        """The error once `refused` is final; `credentials` ends the message ("with the stored credentials")."""
        return cls(f"upstream credentials rejected: Cloudflare answered HTTP {refused.status} {credentials}")


class UpstreamUnavailable(StreamTokenError):
    """Cloudflare failed: 5xx, an answer that is not what the API promises, or no connection."""

    status, code = 502, 10008


class UpstreamTimeout(StreamTokenError):
    status, code = 504, 10009


class ConfigurationError(StreamTokenError):
    """The deployment is wrong (secret missing or malformed, bad environment).

    The caller only ever sees the generic message; `detail` is for the log line and names the
    problem precisely, never a secret value.
    """

    status, code = 500, 10010
    PUBLIC_MESSAGE: ClassVar[str] = "The service is misconfigured; the operator has been told."

    def __init__(self, detail: str) -> None:
        super().__init__(self.PUBLIC_MESSAGE)
        self.detail = detail


class SigningKeyRotationFailed(StreamTokenError):
    """A rotation step of the Stream signing key failed its check (the rotation function only);
    Secrets Manager retries the step, and the current key stays in use meanwhile."""

    status, code = 500, 10016


class UpstreamAuthRejected(Exception):
    """Cloudflare answered 401/403: internal signal to re-read the secret once."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def as_stream_error(exc: Exception) -> StreamTokenError:
    """What a caller is told of `exc`: the error itself when it is one of the types above, else an
    InternalError (the unexpected exception is for the log, never for the caller)."""
    return exc if isinstance(exc, StreamTokenError) else InternalError()
