"""Turning the signing key's rotation on and off in Secrets Manager (RotateSecret, CancelRotateSecret).

What AWS::SecretsManager::RotationSchedule would do, for the custom resource that stands in for it:
that type is not on the Serverless Application Repository's list of supported resources
(operations/sar_supported_resources.txt), and the published application must still rotate.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class RotationSchedule:
    """One secret's rotation, through a botocore Secrets Manager client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def turn_on(self, secret_id: str, rotation_function_arn: str, schedule: str) -> None:
        """Rotation with this function on this schedule, and a first rotation at once (as the
        schedule resource's RotateImmediatelyOnUpdate), so that a key is there from the start."""
        self._client.rotate_secret(
            SecretId=secret_id,
            RotationLambdaARN=rotation_function_arn,
            RotationRules={"ScheduleExpression": schedule},
            RotateImmediately=True,
        )

    def turn_off(self, secret_id: str) -> None:
        """No more rotations (a rotation under way is cancelled). A secret already gone, or one
        Secrets Manager will not change (scheduled for deletion), is no error: a stack must be able
        to delete this resource whatever became of the secret."""
        try:
            self._client.cancel_rotate_secret(SecretId=secret_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NOTHING_TO_TURN_OFF:
                raise


_NOTHING_TO_TURN_OFF = {"ResourceNotFoundException", "InvalidRequestException"}
