"""How a function invoked directly (not over HTTP) fails: with a named error.

The error raised is the `StreamTokenError` type (InvalidRequest, RateLimited, ...), which is the
`errorType` Lambda reports and a Step Functions Retry or Catch matches; it is logged and counted
once, and carries no layer frames into Lambda's report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .. import observability


@contextmanager
def failures_as_named_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        raise observability.log_and_count_failure(exc).with_traceback(None) from None
