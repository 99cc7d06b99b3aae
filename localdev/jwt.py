"""`make jwt SUB=... [SCOPES="a b"] [CLAIMS='{"stream_videos": "..."}'] [EXPIRES_IN=3600] [AUD=...]`:
a bearer token that `AUTH_MODE=JWT make run` on the same PORT accepts, alone on the last line."""

from __future__ import annotations

import json
import os
import sys

from .standins.jwt_authorizer import LocalIssuer, issuer_file

USAGE = 'usage: make jwt SUB=viewer-1 [SCOPES="a b"] [CLAIMS=\'{"stream_videos": "<id> <id>"}\']'


def main() -> int:
    port = int(os.environ.get("PORT") or "3000")
    path = issuer_file(port)
    if not path.is_file():
        print(f"no `AUTH_MODE=JWT make run` on port {port} (set PORT= to the one it listens on)", file=sys.stderr)
        return 1
    sub = os.environ.get("SUB", "")
    if not sub:
        print(
            'usage: make jwt SUB=viewer-1 [SCOPES="a b"] [CLAIMS=\'{"stream_videos": "<id> <id>"}\']', file=sys.stderr
        )
        return 2
    try:
        claims = json.loads(os.environ.get("CLAIMS") or "{}")
    except ValueError as exc:
        print(f"CLAIMS is not JSON: {exc}", file=sys.stderr)
        return 2
    claims = {"sub": sub} | ({"scope": os.environ["SCOPES"]} if os.environ.get("SCOPES") else {}) | claims
    if os.environ.get("AUD"):
        claims["aud"] = os.environ["AUD"]
    print(LocalIssuer.load(path).token(claims, int(os.environ.get("EXPIRES_IN") or "3600")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
