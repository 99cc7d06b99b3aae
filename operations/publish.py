"""Releasing the application to the AWS Serverless Application Repository (`make publish`).

`check` holds the template's AWS::ServerlessRepo::Application metadata to the package: the version
is pyproject.toml's (the one version number), the files it names exist, the source URL is the
project's at that version's tag, and the names follow SAR's patterns. It also lists the resource
types the transformed template creates that SAR's list of supported resources (kept in
operations/sar_supported_resources.txt) does not name, which fail the check, and the
capabilities a consumer must acknowledge. `template` writes the template `sam package` uploads:
the OpenAPI document inlined where template.yaml includes it with AWS::Include, so that
the published application carries its whole API definition and depends on no file in the
publisher's bucket at deploy time.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
API_DOCUMENT = ROOT / "openapi.yaml"
METADATA_KEY = "AWS::ServerlessRepo::Application"
SUPPORTED_RESOURCES = "https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html"
SUPPORTED_LIST = Path(__file__).resolve().parent / "sar_supported_resources.txt"


def supported_resources(path: Path = SUPPORTED_LIST) -> frozenset[str]:
    """SAR's list of supported resource types, as kept in the repository (its source and date in
    the file's header): one type a line, `#` starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line)


LISTED = supported_resources()
IAM = frozenset({"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Group"})
RESOURCE_POLICIES = frozenset(
    {"AWS::Lambda::Permission", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"}
)
SEMVER = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?"


def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def version() -> str:
    return str(project()["version"])


def source_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """A SAM template in CloudFormation's long form (short tags such as !Ref expanded)."""
    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


def metadata_problems(template: dict[str, Any], base: Path = ROOT) -> list[str]:
    """What is wrong with the SAR metadata, in words (empty: nothing)."""
    meta = template.get("Metadata", {}).get(METADATA_KEY)
    if not isinstance(meta, dict):
        return [f"template.yaml has no Metadata/{METADATA_KEY}"]
    problems = []
    package = project()
    if meta.get("SemanticVersion") != package["version"]:
        problems.append(f"SemanticVersion {meta.get('SemanticVersion')!r} is not pyproject's {package['version']!r}")
    if not re.fullmatch(SEMVER, str(package["version"])):
        problems.append(f"pyproject's version {package['version']!r} is not a semantic version")
    if meta.get("SpdxLicenseId") != package["license"]["text"]:
        problems.append(
            f"SpdxLicenseId {meta.get('SpdxLicenseId')!r} is not pyproject's {package['license']['text']!r}"
        )
    for key in ("LicenseUrl", "ReadmeUrl"):
        if not (base / str(meta.get(key, ""))).is_file():
            problems.append(f"{key} {meta.get(key)!r} names no file")
    source = package["urls"]["Source"]
    if meta.get("HomePageUrl") != source:
        problems.append(f"HomePageUrl {meta.get('HomePageUrl')!r} is not pyproject's Source {source!r}")
    if meta.get("SourceCodeUrl") != f"{source}/tree/v{package['version']}":
        problems.append(f"SourceCodeUrl {meta.get('SourceCodeUrl')!r} is not {source}/tree/v{package['version']}")
    document_version = json.loads((base / API_DOCUMENT.name).read_text())["info"]["version"]
    if document_version != package["version"]:
        problems.append(f"openapi.yaml's info.version {document_version!r} is not pyproject's {package['version']!r}")
    changelog = (base / "CHANGELOG.md").read_text() if (base / "CHANGELOG.md").is_file() else ""
    if f"## [{package['version']}]" not in changelog:
        problems.append(f"CHANGELOG.md has no section for {package['version']}")
    return problems + form_problems(meta)


def form_problems(meta: dict[str, Any]) -> list[str]:
    """What SAR's API would refuse in the metadata's names and texts."""
    problems = []
    if not re.fullmatch(r"[A-Za-z0-9-]{1,140}", str(meta.get("Name", ""))):
        problems.append("Name: 1 to 140 letters, digits and hyphens")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]", str(meta.get("Author", ""))):
        problems.append("Author: lowercase letters, digits and single hyphens, not at either end")
    if not 1 <= len(str(meta.get("Description", ""))) <= 256:
        problems.append("Description: 1 to 256 characters")
    labels = meta.get("Labels", [])
    if len(labels) > 10 or not all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in labels):
        problems.append("Labels: at most 10, each 1 to 127 of a-z A-Z 0-9 + - _ : / @")
    return problems


def inlined(template: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """`template` with every AWS::Include of openapi.yaml replaced by the document itself."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            include = node.get("Fn::Transform")
            if set(node) == {"Fn::Transform"} and isinstance(include, dict) and include.get("Name") == "AWS::Include":
                location = str(include["Parameters"]["Location"])
                if not location.endswith(API_DOCUMENT.name):
                    raise ValueError(f"an AWS::Include of {location}: only {API_DOCUMENT.name} is inlined")
                return copy.deepcopy(document)
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    result: dict[str, Any] = walk(template)
    return result


def resource_types(template: dict[str, Any]) -> set[str]:
    """The CloudFormation types the template creates once SAM has transformed it (offline)."""
    source = inlined(template, json.loads(API_DOCUMENT.read_text()))
    for resource in source["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if isinstance(resource.get("Properties", {}).get(key), str):
                resource["Properties"][key] = f"s3://bucket/{key}"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    output = transform(source, {}, NoManagedPolicies())
    return {str(r["Type"]) for r in output["Resources"].values()}


def capabilities(types: set[str], template: dict[str, Any]) -> list[str]:
    """What a consumer acknowledges to deploy it from SAR (acknowledging-application-capabilities)."""
    named = any("RoleName" in r.get("Properties", {}) for r in template["Resources"].values())
    found = ["CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"] if types & IAM else []
    return found + (["CAPABILITY_RESOURCE_POLICY"] if types & RESOURCE_POLICIES else [])


NOT_PUBLISHED = frozenset({"AWS::Logs::QueryDefinition"})
"""Conveniences SAR's list does not have: left out of the published application (docs/publishing.md
gives the command that saves the same Logs Insights queries)."""


def publish_template(built: Path, output: Path) -> None:
    """The template `sam package` uploads: `built` (sam build's) with openapi.yaml inlined, without
    the NOT_PUBLISHED resources, and the local files it names (code, licence, readme) named from
    where `output` is written."""
    template = inlined(source_template(built), json.loads(API_DOCUMENT.read_text()))
    template["Resources"] = {
        name: resource for name, resource in template["Resources"].items() if resource["Type"] not in NOT_PUBLISHED
    }

    def moved(path: str) -> str:
        return path if "://" in path else os.path.relpath(built.parent / path, output.parent)

    meta = template["Metadata"][METADATA_KEY]
    for key in ("LicenseUrl", "ReadmeUrl"):
        meta[key] = moved(meta[key])
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = moved(properties[key])
    output.write_text(json.dumps(template, indent=1) + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        template = source_template()
        problems = metadata_problems(template)
        for problem in problems:
            print(f"SAR metadata: {problem}", file=sys.stderr)
        types = resource_types(template)
        unconfirmed = sorted(types - LISTED)
        print(f"version {version()}; consumers acknowledge {' '.join(capabilities(types, template))}")
        if unconfirmed:
            print(f"not on {SUPPORTED_RESOURCES} ({SUPPORTED_LIST.name}): {', '.join(unconfirmed)}", file=sys.stderr)
        return 1 if problems or unconfirmed else 0
    if argv[:1] == ["template"] and len(argv) == 3:
        publish_template(Path(argv[1]), Path(argv[2]))
        return 0
    print("usage: python -m operations.publish check | template BUILT_TEMPLATE OUTPUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
