"""`make openapi`: the API's document as each AuthMode deploys it, written for client generators
(`openapi.iam.json`, `openapi.jwt.json`, `openapi.none.json`, git-ignored)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
SCHEMES = {
    "IAM": {"sigv4": {"type": "apiKey", "in": "header", "name": "Authorization"}},
    "JWT": {"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    "NONE": {},
}


def operations(document: dict) -> list[dict]:
    return [operation for path in document["paths"].values() for operation in path.values()]


@pytest.mark.parametrize("mode", SCHEMES)
def test_each_auth_modes_document_is_openapi_with_that_modes_security(mode):
    written = subprocess.run(
        [sys.executable, "-m", "localdev.standins.template", mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    document = json.loads(written.stdout)
    validate(document)
    assert document["openapi"].startswith("3.0")
    schemes = document["components"].get("securitySchemes", {})
    shown = {name: {key: scheme[key] for key in SCHEMES[mode][name]} for name, scheme in schemes.items()}
    assert shown == SCHEMES[mode]
    required = [operation.get("security") for operation in operations(document)]
    assert required == [[{name: []} for name in SCHEMES[mode]] or None] * len(required)
    assert len(required) == len(json.loads((ROOT / "openapi.yaml").read_text())["paths"])


def test_make_openapi_writes_the_three_files_git_ignores_and_redocly_lints():
    recipe = re.search(r"^openapi:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no openapi target"
    assert "-m localdev.standins.template $${mode^^} > openapi.$$mode.json" in recipe.group(1)
    assert "for mode in iam jwt none;" in recipe.group(1)
    names = [f"openapi.{mode.lower()}.json" for mode in SCHEMES]
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert all(f"/{name}" in ignored for name in names)
    assert all(f"root: {name}" in (ROOT / "redocly.yaml").read_text() for name in names)
