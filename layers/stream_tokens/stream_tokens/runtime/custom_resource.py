"""The CloudFormation custom resource that turns rotation on (template.yaml: CloudflareSecretRotation).

CloudFormation invokes the function with Create, Update or Delete and waits (up to an hour) for an
answer PUT to the event's pre-signed ResponseURL; an answer never sent stalls the stack, so every
outcome, failures included, is answered. The answer carries no secret: the secret's ARN is the
physical id, the reason is the error's kind and message.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from ..adapters.rotation_schedule import RotationSchedule


def handle(event: dict[str, Any], schedule: RotationSchedule) -> dict[str, Any]:
    """Apply the request to the secret's rotation and answer CloudFormation; the answer sent."""
    properties = event["ResourceProperties"]
    secret_id = str(properties["SecretId"])
    try:
        if event["RequestType"] == "Delete":
            schedule.turn_off(secret_id)
        else:
            schedule.turn_on(secret_id, str(properties["RotationLambdaARN"]), str(properties["ScheduleExpression"]))
        answer = _answer(event, "SUCCESS", f"{secret_id}/rotation", "")
    except Exception as exc:  # any failure is CloudFormation's to report, never a hung stack
        answer = _answer(event, "FAILED", f"{secret_id}/rotation", f"{type(exc).__name__}: {exc}"[:500])
    send(event["ResponseURL"], answer)
    return answer


def _answer(event: dict[str, Any], status: str, physical_id: str, reason: str) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": reason or status,
        # the secret's: a new SecretId is a new resource, and CloudFormation then deletes the old
        # one (turning the old secret's rotation off)
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": {},
    }


def send(url: str, answer: dict[str, Any]) -> None:
    """PUT the answer to the pre-signed URL (no Content-Type: the signature does not include one)."""
    body = json.dumps(answer).encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - CloudFormation's https URL
        response.read()


def rotation_schedule() -> RotationSchedule:
    import botocore.session  # noqa: PLC0415

    return RotationSchedule(botocore.session.get_session().create_client("secretsmanager"))
