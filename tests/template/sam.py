"""template.yaml as SAM's own translator turns it into CloudFormation, offline: the document is
included first (as CloudFormation's AWS::Include does), local code paths stand for the S3 URIs
`sam deploy` would upload them to, and no managed policy is looked up."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from localdev.standins.template import TEMPLATE, api_document

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stream-signed-urls/cloudflare-AbCdEf"
REQUIRED = {"CloudflareSecretArn": SECRET_ARN, "StreamCustomerCode": "f33zs165nr7gyfy4"}


class NoManagedPolicies:
    """SAM's managed-policy loader, offline: no managed policy is looked up."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def _translated(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    source = yaml_parse(TEMPLATE.read_text())
    for resource in source["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = f"s3://deployment-bucket/{resource['Properties'][uri]}"
    source["Resources"]["StreamApi"]["Properties"]["DefinitionBody"] = copy.deepcopy(api_document())
    result: dict[str, Any] = transform(source, REQUIRED | dict(parameters), NoManagedPolicies())
    return result


def translated(**parameters: str) -> dict[str, Any]:
    """The CloudFormation template SAM makes of template.yaml (AWS_DEFAULT_REGION must be set)."""
    return copy.deepcopy(_translated(tuple(sorted(parameters.items()))))
