"""What an AWS SDK error says, read in one place (the adapters that call AWS share it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # botocore only where a client is already loaded
    from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (e.g. ResourceNotFoundException); "" when it has none."""
    return str(exc.response.get("Error", {}).get("Code") or "")
