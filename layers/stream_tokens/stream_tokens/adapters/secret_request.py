"""GetSecretValue as one signed HTTPS request: a container's first read of the secret, made cheap.

Creating a botocore client loads the service's model and every partition's endpoints: after the
imports, the largest part of a cold start that signs locally (`make bench`). Where the request is
plain, as Lambda sets it up (the execution role's credentials in the environment, a region of the
`aws` partition, no FIPS, dual-stack, proxy or profile asked for), one request signed by botocore's
own SigV4 signer and sent by botocore's own HTTP session does what the client would. Anything else,
and any answer but a 200, is left to the client, which retries, resolves every partition's
endpoints and names AWS's errors: `secret_string` then answers None.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

# botocore's endpoints.json: the `aws` partition's regions (endpoints secretsmanager.{region}.amazonaws.com)
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
TIMEOUT_SECONDS = 3  # Secrets Manager answers in milliseconds; the client still has its own tries after this


def secret_string(secret_id: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The AWSCURRENT SecretString, or None when the client must do it (see the module's doc)."""
    target = _plain_target(env)
    if target is None:
        return None
    url, region = target
    body = json.dumps({"SecretId": secret_id, "VersionStage": "AWSCURRENT"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
    request = AWSRequest("POST", url, data=body, headers=headers)
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
    SigV4Auth(credentials, "secretsmanager", region).add_auth(request)
    try:
        answer = URLLib3Session(timeout=TIMEOUT_SECONDS).send(request.prepare())
        value = json.loads(answer.content)["SecretString"] if answer.status_code == 200 else None
    except Exception:  # the client will try, and say what went wrong
        return None
    return value if isinstance(value, str) else None


def _plain_target(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(endpoint URL, signing region) when the request is plain; None otherwise."""
    region = env.get("AWS_DEFAULT_REGION", "")  # where botocore takes it from
    if not (region and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        return None
    if any(env.get(name) for name in _LEFT_TO_THE_CLIENT):
        return None
    configured = env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or env.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/") + "/", region
    if not _AWS_REGION.match(region):
        return None
    return f"https://secretsmanager.{region}.amazonaws.com/", region
