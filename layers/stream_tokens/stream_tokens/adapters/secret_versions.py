"""The credentials secret's versions and staging labels in Secrets Manager (the rotation function's
adapter; minting reads the secret through secrets_manager.py).

Values are read fresh (no cache): a rotation step must see what the previous step wrote.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..domain.errors import ConfigurationError
from ..domain.secret_stages import AWSCURRENT, AWSPENDING, SecretState
from .aws_errors import error_code

MAX_VERSION_PAGES = 10  # Secrets Manager keeps about 100 versions; a page holds up to 100


class SecretVersions:
    """DescribeSecret, GetSecretValue by version, PutSecretValue, UpdateSecretVersionStage and
    ListSecretVersionIds on the credentials secret; one per container."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("secretsmanager")
        return self._client

    def describe(self, secret_id: str) -> SecretState:
        metadata = self.client.describe_secret(SecretId=secret_id)
        return SecretState(bool(metadata.get("RotationEnabled")), dict(metadata.get("VersionIdsToStages", {})))

    def read(self, secret_id: str, *, version_id: str | None = None, stage: str | None = None) -> dict[str, Any] | None:
        """The version's JSON object; None when that version (or its value) does not exist yet."""
        options = {"VersionId": version_id} if version_id else {}
        options |= {"VersionStage": stage} if stage else {}
        try:
            text = self.client.get_secret_value(SecretId=secret_id, **options).get("SecretString")
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConfigurationError(f"a version of the Cloudflare secret is not a JSON object ({version_id or stage})")
        return value

    def put_pending(self, secret_id: str, version_id: str, value: dict[str, Any]) -> None:
        self.client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=version_id,
            SecretString=json.dumps(value),
            VersionStages=[AWSPENDING],
        )

    def promote(self, secret_id: str, version_id: str, current: str | None) -> None:
        """Move AWSCURRENT to `version_id` (Secrets Manager moves AWSPREVIOUS to the old one), then
        take AWSPENDING off it. AWS accepts either end state (AWSPENDING on the current version, or
        on none) and its template makes only the first call; the second is kept because moto
        (5.2.5) refuses the next RotateSecret ("Previous rotation request is still in progress")
        while AWSPENDING stays on the current version, and the tests rotate on moto."""
        options = {"RemoveFromVersionId": current} if current else {}
        self.client.update_secret_version_stage(
            SecretId=secret_id, VersionStage=AWSCURRENT, MoveToVersionId=version_id, **options
        )
        self.client.update_secret_version_stage(
            SecretId=secret_id, VersionStage=AWSPENDING, RemoveFromVersionId=version_id
        )

    def created_since(self, secret_id: str, version_id: str) -> list[str]:
        """Versions (labelled or not) created no earlier than `version_id`, other than it."""
        versions: list[dict[str, Any]] = []
        page: dict[str, Any] = {}
        for _ in range(MAX_VERSION_PAGES):  # botocore has no paginator for this operation
            more = {"NextToken": page["NextToken"]} if page.get("NextToken") else {}
            page = self.client.list_secret_version_ids(SecretId=secret_id, IncludeDeprecated=True, **more)
            versions += page.get("Versions", [])
            if not page.get("NextToken"):
                break
        since = next((v.get("CreatedDate") for v in versions if v.get("VersionId") == version_id), None)
        return [
            v["VersionId"]
            for v in versions
            if v.get("VersionId") != version_id and (since is None or v.get("CreatedDate", since) >= since)
        ]
