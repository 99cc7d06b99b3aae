"""The credentials secret's versions as a rotation sees them: which version carries which staging
label (AWSCURRENT: the one minting reads; AWSPENDING: the one a rotation is writing)."""

from __future__ import annotations

from dataclasses import dataclass

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"


@dataclass(frozen=True)
class SecretState:
    rotation_enabled: bool
    stages: dict[str, list[str]]
    """Version id -> its staging labels (versions without a label are not listed)."""

    def version_with(self, stage: str) -> str | None:
        return next((version for version, stages in self.stages.items() if stage in stages), None)
