"""A released application: one version number (pyproject's), a LICENSE and a CHANGELOG, the
Serverless Application Repository metadata held to them, and the template `make publish` packages
(checked offline: `sam package` against moto's S3 on loopback; `sam publish` needs AWS)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from operations import publish

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = publish.source_template()
META = TEMPLATE["Metadata"][publish.METADATA_KEY]


def test_the_metadata_is_the_packages_one_version_licence_readme_and_source():
    assert publish.metadata_problems(TEMPLATE) == []
    assert META["SemanticVersion"] == publish.version() == publish.project()["version"]
    assert json.loads((ROOT / "openapi.yaml").read_text())["info"]["version"] == publish.version()
    assert (ROOT / META["LicenseUrl"]).read_text().startswith("MIT License")
    assert "Copyright (c) 2026 The stream-signed-urls authors" in (ROOT / "LICENSE").read_text()
    assert META["ReadmeUrl"] == "README.md"
    assert META["SourceCodeUrl"].endswith(f"/tree/v{publish.version()}")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("SemanticVersion", "9.9.9", "is not pyproject's"),
        ("LicenseUrl", "LICENCE.txt", "names no file"),
        ("SourceCodeUrl", "https://example.com/elsewhere", "SourceCodeUrl"),
        ("Author", "The stream-signed-urls authors", "Author"),
        ("SpdxLicenseId", "Apache-2.0", "SpdxLicenseId"),
    ],
)
def test_the_check_names_what_is_wrong(key, value, problem):
    broken = copy.deepcopy(TEMPLATE)
    broken["Metadata"][publish.METADATA_KEY][key] = value
    (found,) = publish.metadata_problems(broken)
    assert key in found
    assert problem in found


def test_the_changelog_keeps_a_changelog_with_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert f"## [{publish.version()}] - " in text
    assert text.index("## [Unreleased]") < text.index(f"## [{publish.version()}]")


def test_every_resource_type_of_the_published_template_is_on_sars_list(tmp_path):
    """The template `make publish` sends, transformed as SAR's deployment would, creates only types
    on SAR's list of supported resources as kept in operations/sar_supported_resources.txt (issue
    22: the rotation is a custom resource, results go to a queue, never an event bus)."""
    output = tmp_path / "publish.json"
    publish.publish_template(ROOT / "template.yaml", output)
    published = json.loads(output.read_text())
    types = publish.resource_types(published)
    assert types - publish.LISTED == set()
    assert "AWS::CloudFormation::CustomResource" in types  # what turns rotation on
    assert not {t for t in types if t.startswith("AWS::SecretsManager::")}
    assert "AWS::Events::EventBus" not in types
    assert publish.capabilities(types, TEMPLATE) == ["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"]


def test_the_kept_list_says_where_and_when_it_comes_from_and_leaves_out_what_aws_does_not_list():
    header = publish.SUPPORTED_LIST.read_text().split("\nAWS::", 1)[0]
    assert "https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html" in header
    assert "2026-12-04" in header
    listed = publish.supported_resources()
    assert len(listed) > 100
    assert {"AWS::CloudFormation::CustomResource", "AWS::Lambda::EventInvokeConfig", "AWS::SQS::QueuePolicy"} <= listed
    assert (
        not {"AWS::SecretsManager::RotationSchedule", "AWS::SecretsManager::Secret", "AWS::Events::EventBus"} & listed
    )


def test_a_type_not_on_the_list_fails_the_publish_check(monkeypatch, capsys):
    monkeypatch.setattr(publish, "LISTED", publish.LISTED - {"AWS::SQS::Queue"})
    monkeypatch.setattr(publish, "metadata_problems", lambda template: [])
    assert publish.main(["check"]) == 1
    assert "AWS::SQS::Queue" in capsys.readouterr().err


def test_the_published_template_carries_the_api_document_inline(tmp_path):
    output = tmp_path / "publish.json"
    publish.publish_template(ROOT / "template.yaml", output)
    published = json.loads(output.read_text())
    api = published["Resources"]["StreamApi"]["Properties"]["DefinitionBody"]
    assert api == json.loads((ROOT / "openapi.yaml").read_text())
    assert "Fn::Transform" not in output.read_text()
    meta = published["Metadata"][publish.METADATA_KEY]
    assert (output.parent / meta["LicenseUrl"]).resolve() == ROOT / "LICENSE"
    code = published["Resources"]["MintFunction"]["Properties"]["CodeUri"]
    assert (output.parent / code).resolve() == ROOT / "functions" / "mint_http"
    original = copy.deepcopy(TEMPLATE)
    left_out = {name for name, r in original["Resources"].items() if r["Type"] in publish.NOT_PUBLISHED}
    assert left_out == {"TokensByCallerQuery", "RefusalsByReasonQuery"}  # the saved queries
    original["Resources"] = {n: r for n, r in original["Resources"].items() if n not in left_out}
    original["Resources"]["StreamApi"]["Properties"]["DefinitionBody"] = api
    for key in ("LicenseUrl", "ReadmeUrl"):
        original["Metadata"][publish.METADATA_KEY][key] = meta[key]
    for name, resource in original["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = published["Resources"][name]["Properties"][key]
    assert published == original  # nothing else changes


def test_sam_package_uploads_the_code_licence_and_readme(tmp_path, moto_endpoint):
    """`make publish`'s packaging step, offline: moto's S3 stands in for the bucket."""
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="releases")
    source = tmp_path / "publish.json"
    publish.publish_template(ROOT / "template.yaml", source)  # the sources stand in for sam build's output
    packaged = tmp_path / "packaged.yaml"
    env = os.environ | {"AWS_ENDPOINT_URL_S3": moto_endpoint, "SAM_CLI_TELEMETRY": "0"}
    sam = Path(sys.executable).parent / "sam"
    result = subprocess.run(
        [
            str(sam),
            "package",
            "--template-file",
            str(source),
            "--s3-bucket",
            "releases",
            "--output-template-file",
            str(packaged),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = yaml.safe_load(packaged.read_text())
    meta = out["Metadata"][publish.METADATA_KEY]
    assert meta["LicenseUrl"].startswith("s3://releases/")
    assert meta["ReadmeUrl"].startswith("s3://releases/")
    resources = out["Resources"]
    assert resources["MintFunction"]["Properties"]["CodeUri"].startswith("s3://releases/")
    assert resources["StreamTokensLayer"]["Properties"]["ContentUri"].startswith("s3://releases/")
    assert "Fn::Transform" not in json.dumps(resources["StreamApi"])
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="releases")["Contents"]}
    assert len(keys) >= 6  # three functions, the layer, the licence and the readme
