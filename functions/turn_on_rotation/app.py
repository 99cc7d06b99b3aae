"""CloudFormation custom resource entry point: turns the signing key's rotation on (Create, Update)
and off (Delete), in place of AWS::SecretsManager::RotationSchedule, which the Serverless
Application Repository does not accept (docs/operating/hardening.md).

Thin on purpose: the protocol lives in `stream_tokens.runtime.custom_resource`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_tokens.observability import logger
from stream_tokens.runtime import custom_resource


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    answer = custom_resource.handle(event, custom_resource.rotation_schedule())
    logger.info("custom resource answered", extra={"request": event["RequestType"], "status": answer["Status"]})
