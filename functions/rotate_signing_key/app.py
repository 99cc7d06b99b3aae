"""Secrets Manager rotation entry point: rotates the Stream signing key in the Cloudflare secret.

Secrets Manager invokes it with `{"Step", "SecretId", "ClientRequestToken"}` once per step
(createSecret, setSecret, testSecret, finishSecret) and retries a step that raises.
Thin on purpose: the steps live in `stream_tokens.services.rotation`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.observability import logger, metrics
from stream_tokens.runtime import bootstrap
from stream_tokens.runtime.invocation import raising_named_errors


@logger.inject_lambda_context
@metrics.log_metrics
@raising_named_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    rotation = bootstrap.signing_key_rotation()
    rotation.run(event["Step"], event["SecretId"], event["ClientRequestToken"], bootstrap.deadline(context))
