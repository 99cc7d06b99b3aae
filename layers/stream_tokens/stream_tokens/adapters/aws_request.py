"""An AWS JSON-protocol call as one signed HTTPS request: the cold path's reads and writes, made cheap.

Creating a botocore client loads the service's model and every partition's endpoints: after the
imports, the largest part of a cold start (`make bench`). Where the request is plain, as Lambda sets
it up (the execution role's credentials in the environment, a region of the `aws` partition, no
FIPS, dual-stack, proxy or profile asked for), one request signed by botocore's own SigV4 signer and
sent by botocore's own HTTP session does what the client would. Anything else is left to the client,
which retries, resolves every partition's endpoints and names AWS's errors: `call` then answers None.
Used for Secrets Manager's GetSecretValue and DynamoDB's UpdateItem (the quotas), PutItem and
GetItem (the Cloudflare budget).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

# botocore's endpoints.json: the `aws` partition's regions (endpoints {service}.{region}.amazonaws.com)
_AWS_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$")
_LEFT_TO_THE_CLIENT = (
    "AWS_PROFILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
)
TIMEOUT_SECONDS = 3  # these services answer in milliseconds; the client still has its own tries after this


@dataclass(frozen=True)
class Service:
    name: str
    """The endpoint's prefix and the signing name, e.g. secretsmanager."""
    endpoint_variable: str
    """The variable botocore reads for this service's endpoint, e.g. AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    target_prefix: str
    """X-Amz-Target's prefix, e.g. secretsmanager or DynamoDB_20120810."""
    json_version: str
    """1.0 or 1.1: the Content-Type application/x-amz-json-<version>."""


SECRETS_MANAGER = Service("secretsmanager", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager", "1.1")
DYNAMODB = Service("dynamodb", "AWS_ENDPOINT_URL_DYNAMODB", "DynamoDB_20120810", "1.0")


def call(
    service: Service,
    action: str,
    payload: Mapping[str, Any],
    env: Mapping[str, str] = os.environ,
    timeout: float | tuple[float, float] = TIMEOUT_SECONDS,
) -> tuple[int, dict[str, Any]] | None:
    """(HTTP status, the answer's JSON object), or None when the client must do it (see the module's
    doc): the setting is not plain, or no answer came. `timeout`: seconds, or (connect, read)."""
    target = _plain_target(service, env)
    if target is None:
        return None
    url, region = target
    headers = {
        "Content-Type": f"application/x-amz-json-{service.json_version}",
        "X-Amz-Target": f"{service.target_prefix}.{action}",
    }
    request = AWSRequest("POST", url, data=json.dumps(payload).encode(), headers=headers)
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
    SigV4Auth(credentials, service.name, region).add_auth(request)
    try:
        answer = _session(timeout).send(request.prepare())
        body = json.loads(answer.content)
    except Exception:  # the client will try, and say what went wrong
        return None
    return (answer.status_code, body) if isinstance(body, dict) else None


def secret_string(secret_id: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The AWSCURRENT SecretString, or None when the client must read it."""
    answer = call(SECRETS_MANAGER, "GetSecretValue", {"SecretId": secret_id, "VersionStage": "AWSCURRENT"}, env)
    value = answer[1].get("SecretString") if answer is not None and answer[0] == 200 else None
    return value if isinstance(value, str) else None


@cache
def _session(timeout: float | tuple[float, float]) -> URLLib3Session:
    """One keep-alive session per timeout, as a client keeps its own (urllib3's pools are thread-safe)."""
    return URLLib3Session(timeout=timeout)  # type: ignore[arg-type]  # (connect, read) is accepted (httpsession.py)


def is_plain(service: Service, env: Mapping[str, str] = os.environ) -> bool:
    """Whether `call` would send the request itself (else a client must)."""
    return _plain_target(service, env) is not None


def _plain_target(service: Service, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(endpoint URL, signing region) when the request is plain; None otherwise."""
    region = env.get("AWS_DEFAULT_REGION", "")  # where botocore takes it from
    if not (region and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        return None
    if any(env.get(name) for name in _LEFT_TO_THE_CLIENT):
        return None
    configured = env.get(service.endpoint_variable) or env.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/") + "/", region
    if not _AWS_REGION.match(region):
        return None
    return f"https://{service.name}.{region}.amazonaws.com/", region
