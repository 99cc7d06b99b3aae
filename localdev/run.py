"""`make run`: the API on http://127.0.0.1:3000 with no Docker and no AWS account.

Secrets Manager and DynamoDB are moto's server on loopback, with the Cloudflare call budget table
as template.yaml declares it and a generated secret that holds a freshly generated Stream signing
key, so tokens are signed locally (the public JWK is printed, to verify them); SIGNING_MODE=api
sends them to the loopback Cloudflare double instead. The key is in a secret of its own beside the
API token's, as with the SigningKeySecretArn parameter (ONE_SECRET=1: both in one secret, as a stack
without it has them). With CLOUDFLARE_API_TOKEN and
CLOUDFLARE_ACCOUNT_ID set, those go into the secret (without a key) and the real API (or
CLOUDFLARE_BASE_URL) is called. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
from typing import Any

from .standins import stack, template
from .standins.cloudflare_double import CloudflareDouble
from .standins.cors import Cors
from .standins.examples import ACCOUNT as EXAMPLE_ACCOUNT
from .standins.examples import VIDEO as EXAMPLE_VIDEO
from .standins.jwt_authorizer import LocalIssuer, issuer_file
from .standins.local_api import LocalHttpApi
from .standins.signing_keys import new_signing_key, public_jwk, secret_fields

LOCAL_CUSTOMER_CODE = "localdev"
BUDGET_TABLE = "stream-signed-urls-cloudflare-calls"  # in moto's DynamoDB, as template.yaml declares it
LOCAL_POLICY_PARAMETER = "/stream-signed-urls/policy"
TRY_BODY = json.dumps({"accessRules": [{"type": "ip.geoip.country", "action": "block", "country": ["KP"]}]})

CORS_OFF = "off (ALLOWED_ORIGINS=https://your.site,... to allow browser origins, as AllowedOrigins does)"


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def hold_stop_signals() -> None:
    """Ctrl-C and SIGTERM are held (blocked) in this thread and, as threads inherit the mask, in every
    thread started after this: they stay pending until `wait_for_stop_signal` takes one.

    No Python signal handler runs at all, so none can interrupt other code: a handler that set a
    threading.Event deadlocked when a second signal (make forwarding SIGTERM to a process group that
    already got it, Ctrl-C pressed twice) re-entered it while it held the Event's lock, and the
    interpreter's own handlers, restored as it exits, let a late second SIGTERM kill it.
    """
    assert threading.active_count() == 1, "hold the stop signals before any thread starts"
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def wait_for_stop_signal() -> signal.Signals:
    """Sleep until Ctrl-C or SIGTERM arrives, whichever thread the kernel addressed it to."""
    return signal.Signals(signal.sigwait(STOP_SIGNALS))


def auth_mode() -> str:
    """AUTH_MODE, as the stack's AuthMode: NONE (the default here: no authorizer in front) or JWT."""
    return os.environ.get("AUTH_MODE", "") or "NONE"


BEARER = ' -H "Authorization: Bearer $TOKEN"'
POLICY_SETTINGS = (  # the built-in policy's parameters, which make run takes from the environment
    "MAX_TOKEN_LIFETIME_SECONDS",
    "JWT_CALLERS_MINT_ANY_VIDEO",
    "JWT_QUOTA_TOKENS",
    "JWT_QUOTA_WINDOW_SECONDS",
    "ENTITLEMENTS_CLAIM",
    "CALLER_CLOUDFLARE_SHARE_PERCENT",
)


def jwt_issuer(port: int) -> LocalIssuer | None:
    """AUTH_MODE=JWT: API Gateway's JWT authorizer in front, with a local issuer whose key `make jwt`
    reads from a file only this user can read (removed at stop)."""
    if auth_mode() != "JWT":
        return None
    issuer = LocalIssuer.configured(port)
    issuer.save(issuer_file(port))
    return issuer


def authorization(issuer: LocalIssuer | None, video: str) -> str:
    """The banner's lines on who may call."""
    if issuer is None:
        return "Authorization: none (AUTH_MODE=NONE, as AuthMode NONE; AUTH_MODE=JWT for a JWT authorizer)\n"
    claims = json.dumps({"stream_videos": video})
    scopes = f' SCOPES="{issuer.scopes[0]}"' if issuer.scopes else ""
    return (
        f"Authorization: JWT, as API Gateway's authorizer: issuer {issuer.url}, audience "
        f"{', '.join(issuer.audiences)}{', scopes ' + ' '.join(issuer.scopes) if issuer.scopes else ''}\n"
        f"  TOKEN=$(PORT={os.environ.get('PORT', '3000')} make jwt SUB=viewer-1{scopes} CLAIMS='{claims}'"
        " | tail -n 1)\n"
    )


def policy_parameter(endpoint: str) -> dict[str, str]:
    """POLICY=path/to/policy.json: that document in an SSM parameter, as deployed (docs/policy.md)."""
    path = os.environ.get("POLICY", "")
    if not path:
        return {}
    with open(path, encoding="utf-8") as document:
        return stack.create_policy_parameter(endpoint, LOCAL_POLICY_PARAMETER, document.read())


def cors_settings() -> tuple[Cors | None, list[str]]:
    """CORS for ALLOWED_ORIGINS, as the stack's AllowedOrigins: refused (with CloudFormation's
    messages) where the stack would refuse it. `*` needs AUTH_MODE=NONE, as it needs AuthMode NONE."""
    origins = os.environ.get("ALLOWED_ORIGINS", "")
    local_jwt = {"JwtIssuer": "the local issuer", "JwtAudience": "the local audience"}  # make run's own (JWT)
    refused = template.refusals({"AllowedOrigins": origins, "AuthMode": auth_mode(), **local_jwt})
    return (None, refused) if refused else (Cors.configured(origins), [])


def cloudflare_secrets(endpoint: str, account: str, api_token: str, key: dict[str, Any] | None) -> tuple[str, str]:
    """The Cloudflare secret (the API token) and, unless ONE_SECRET=1 or there is no key, the
    signing-key secret (the account and the key), in moto; their ARNs ("" for no key secret)."""
    secret = {"account_id": account, "api_token": api_token}
    if key is None or os.environ.get("ONE_SECRET", "") not in ("", "0"):
        fields = secret_fields(key) if key else {}
        return stack.create_secret(endpoint, "stream-signed-urls/cloudflare", secret | fields), ""
    key_secret = {"account_id": account} | secret_fields(key)
    return (
        stack.create_secret(endpoint, "stream-signed-urls/cloudflare", secret),
        stack.create_secret(endpoint, "stream-signed-urls/signing-key", key_secret),
    )


def main() -> int:
    hold_stop_signals()
    port = int(os.environ.get("PORT", "3000"))
    cors, refused = cors_settings()
    if auth_mode() not in ("NONE", "JWT"):
        refused.append(f"AUTH_MODE={auth_mode()}: make run emulates NONE (the default) and JWT")
    if refused:
        print(
            "ALLOWED_ORIGINS refused, as the stack would refuse AllowedOrigins:", *refused, sep="\n  ", file=sys.stderr
        )
        return 2
    real_token = os.environ.get("CLOUDFLARE_API_TOKEN")
    real_account = os.environ.get("CLOUDFLARE_ACCOUNT_ID")

    stack.apply_env(stack.FAKE_AWS_ENV)
    moto, endpoint = stack.start_moto()
    double, key = None, None
    if real_token and real_account:
        account, api_token = real_account, real_token
        base_url = os.environ.get("CLOUDFLARE_BASE_URL") or "https://api.cloudflare.com/client/v4"
    else:
        account, api_token, key = EXAMPLE_ACCOUNT, secrets.token_urlsafe(30), new_signing_key()
        double = CloudflareDouble(account, api_token=api_token, record=False).start()
        base_url = double.base_url
    secret_arn, key_secret_arn = cloudflare_secrets(endpoint, account, api_token, key)
    budget_table = stack.create_budget_table(endpoint, BUDGET_TABLE)
    stack.apply_env(
        template.function_environment(
            {
                "CLOUDFLARE_SECRET_ARN": secret_arn,
                "SIGNING_KEY_SECRET_ARN": key_secret_arn,
                "STREAM_CUSTOMER_CODE": os.environ.get("STREAM_CUSTOMER_CODE", LOCAL_CUSTOMER_CODE),
                "CLOUDFLARE_BASE_URL": base_url,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
                "SIGNING_MODE": os.environ.get("SIGNING_MODE", "auto"),
                "AUTH_MODE": auth_mode(),
                # the double has no rate limit to protect; the real API keeps the template's share
                **({"UPSTREAM_CALLS_PER_5_MINUTES": "1000000000"} if double is not None else {}),
                **budget_table,
                **policy_parameter(endpoint),
                **{name: os.environ[name] for name in POLICY_SETTINGS if name in os.environ},
            }
        )
    )
    app = stack.load_function("mint_http")
    issuer = jwt_issuer(port)
    try:
        api = LocalHttpApi(
            app.lambda_handler,
            template.routes(),
            port=port,
            timeout_seconds=template.function_timeout(),
            cors=cors,
            issuer=issuer,
        )
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} (set PORT=... to use another port)", file=sys.stderr)
        moto.stop()
        return 1
    api.start()
    upstream = "the real Cloudflare API at " + base_url if double is None else "a local Cloudflare double"
    video = EXAMPLE_VIDEO if double is not None else "<VIDEO_ID>"  # a real account has its own videos
    mode = os.environ["SIGNING_MODE"]
    signing = (
        f"Tokens are signed locally (SIGNING_MODE={mode}) with a generated key"
        f"{' from a secret of its own' if key_secret_arn else ''}; its public JWK:\n"
        f"  {json.dumps(public_jwk(key))}\n"
        if key and mode != "api"
        else f"Tokens come from Cloudflare's API (SIGNING_MODE={mode}).\n"
    )
    print(
        f"Stream signed URLs API on {api.url}  (Secrets Manager, DynamoDB: moto at {endpoint}; "
        f"Cloudflare: {upstream})\n"
        f"Routes: {', '.join(r.key for r in template.routes())}\n"
        f"{signing}"
        f"CORS: {'origins ' + ', '.join(cors.allow_origins) if cors else CORS_OFF}\n"
        f"{authorization(issuer, video)}\n"
        "Try:\n"
        f"  curl -s -X POST {api.url}/videos/{video}/token{BEARER if issuer else ''} -d '{TRY_BODY}'\n"
        f"  curl -s -X POST {api.url}/accounts/{account}/stream/{video}/token{BEARER if issuer else ''}\n\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    received = wait_for_stop_signal()
    print(f"{received.name}: stopping", flush=True)
    api.stop()
    issuer_file(port).unlink(missing_ok=True)
    if double is not None:
        double.stop()
    moto.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
