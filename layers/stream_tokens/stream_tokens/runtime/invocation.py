"""How a function invoked directly (not over HTTP) fails: with a named error.

The error raised is the `StreamTokenError` type (InvalidRequest, RateLimited, ...), which is the
`errorType` Lambda reports and a Step Functions Retry or Catch matches; it is logged and counted
once, and carries no frames of the layer into Lambda's report.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from .. import observability


def raising_named_errors[**P, T](handler: Callable[P, T]) -> Callable[P, T]:
    """`handler`, failing only with the StreamTokenError its failure means (see the module)."""

    @wraps(handler)
    def invoke(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:
            raise observability.log_and_count_failure(exc).with_traceback(None) from None

    return invoke
