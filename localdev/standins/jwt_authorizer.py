"""API Gateway's HTTP API JWT authorizer, for `AUTH_MODE=JWT make run` (docs/calling/local-jwt.md).

A local issuer (an RSA key generated at start, never written but to the 0600 file `make jwt` reads)
and the checks AWS documents for the JWT authorizer
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html): a bearer
token in `Authorization`, signed with RS256 by the issuer's key (`kid`), `iss` the issuer, `aud` (or,
without one, `client_id`) one of the audiences, `exp` not passed, `nbf` and `iat` not ahead, and when
the route requires scopes, one of them in the token's `scope` (or `scp`). A failure is API Gateway's
own answer (401 Unauthorized, 403 Forbidden for scopes), the function never invoked. The claims reach
the function as API Gateway hands them over: every value a string (docs/design/jwt-claims.md).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_AUDIENCE = "stream-signed-urls-local"
_JSON = {"content-type": "application/json"}
UNAUTHORIZED = {
    "statusCode": 401,
    "headers": _JSON,
    "body": '{"message":"Unauthorized"}',
}
FORBIDDEN = {"statusCode": 403, "headers": {"content-type": "application/json"}, "body": '{"message":"Forbidden"}'}


def flattened(value: Any) -> str:
    """A claim's value as API Gateway's HTTP API passes it to the function: a string; an array as
    `[a b c]`, an object as `map[k:v]` (Go's formatting, which public reports show)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(flattened(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{flattened(value[k])}" for k in sorted(value)) + "]"
    return str(value)


@dataclass
class LocalIssuer:
    url: str
    audiences: tuple[str, ...] = (DEFAULT_AUDIENCE,)
    scopes: tuple[str, ...] = ()
    """The scopes a route requires (one of them), as the JwtScopes parameter; none: no scope check."""
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def configured(cls, port: int, env: dict[str, str] | None = None) -> LocalIssuer:
        """JWT_ISSUER, JWT_AUDIENCE and JWT_SCOPES (comma-separated), as the stack's parameters."""
        env = dict(os.environ) if env is None else env
        return cls(
            env.get("JWT_ISSUER") or f"http://127.0.0.1:{port}/local-issuer",
            _listed(env.get("JWT_AUDIENCE", "")) or (DEFAULT_AUDIENCE,),
            _listed(env.get("JWT_SCOPES", "")),
        )

    def authorize(self, headers: dict[str, str]) -> dict[str, Any]:
        """`requestContext.authorizer` for a request API Gateway lets through; else its answer,
        under the key "refused"."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return {"refused": _unauthorized("the token is missing")}
        try:
            claims = self.verified(token.strip())
        except jwt.InvalidAudienceError:
            return {"refused": _unauthorized("the token does not have a valid audience")}  # AWS's wording
        except jwt.InvalidTokenError:
            return {"refused": _unauthorized("the token is not valid")}
        granted = _scopes(claims)
        if self.scopes and not set(self.scopes) & set(granted):
            return {"refused": FORBIDDEN}
        flat = {name: flattened(value) for name, value in claims.items() if value is not None}  # null: left out
        return {"jwt": {"claims": flat, "scopes": granted if self.scopes else None}}

    def verified(self, token: str) -> dict[str, Any]:
        if jwt.get_unverified_header(token).get("kid") != self.kid:
            raise jwt.InvalidTokenError("not a key of the issuer")
        claims: dict[str, Any] = jwt.decode(
            token,
            self.key.public_key(),
            algorithms=["RS256", "RS384", "RS512"],  # API Gateway: RSA-based algorithms only
            issuer=self.url,
            options={"require": ["exp", "iss"], "verify_aud": False},
        )
        if claims.get("iat", 0) > time.time() + 5:  # issued in the future
            raise jwt.ImmatureSignatureError("iat")
        audiences = claims.get("aud", claims.get("client_id"))
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not set(self.audiences) & {str(a) for a in audiences}:
            raise jwt.InvalidAudienceError("aud")
        return claims

    def token(self, claims: dict[str, Any], expires_in: int = 3600) -> str:
        """A bearer token of this issuer (what `make jwt` prints)."""
        now = int(time.time())
        payload = {"iss": self.url, "aud": self.audiences[0], "iat": now, "exp": now + expires_in} | claims
        payload = {name: value for name, value in payload.items() if value is not None}  # None: leave it out
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})

    def save(self, path: Path) -> None:
        """What `make jwt` needs, readable by this user alone."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({"issuer": self.url, "audiences": list(self.audiences), "kid": self.kid, "key": pem}, file)

    @classmethod
    def load(cls, path: Path) -> LocalIssuer:
        saved = json.loads(path.read_text())
        key = serialization.load_pem_private_key(saved["key"].encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(saved["issuer"], tuple(saved["audiences"]), key=key, kid=saved["kid"])


def _unauthorized(description: str) -> dict[str, Any]:
    """API Gateway's 401, with the `www-authenticate` header AWS's troubleshooting page shows."""
    challenge = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return UNAUTHORIZED | {"headers": _JSON | {"www-authenticate": challenge}}


def _listed(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    return [str(s) for s in raw] if isinstance(raw, list) else str(raw).split()


def issuer_file(port: int) -> Path:
    """Where `make run` leaves what `make jwt` needs, for the API on `port` (git-ignored)."""
    return Path(__file__).resolve().parents[2] / ".localdev" / f"jwt-issuer-{port}.json"
