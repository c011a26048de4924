"""Access tokens for the benchmark: asked of a provider by client_credentials, or minted for the node peer.

The token request is the one an OPD integration sends: ``grant_type=client_credentials`` with the
RFC 8707 ``resource`` parameter, client_secret_basic (RFC 6749 §2.3.1), at the ``token_endpoint``
that discovery (OpenID Connect Discovery 1.0 §4) names.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from loadtests.harness.errors import Unavailable
from loadtests.harness.wrk import Request


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    resource: str
    scope: str = "api"


def load_token_endpoint(issuer: str) -> str:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(json.load(response)["token_endpoint"])
    except (urllib.error.URLError, ValueError, KeyError) as exc:
        raise Unavailable(f"no token_endpoint in discovery at {url}: {exc}") from exc


def build_token_request(token_endpoint: str, client: ClientCredentials) -> Request:
    # RFC 6749 §2.3.1: the client id and secret are form-urlencoded before the Basic encoding.
    pair = f"{urllib.parse.quote(client.client_id, safe='')}:{urllib.parse.quote(client.client_secret, safe='')}"
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "resource": client.resource, "scope": client.scope}
    )
    headers = {
        "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return Request(url=token_endpoint, method="POST", headers=headers, body=body)


def fetch_access_token(request: Request) -> str:
    http_request = urllib.request.Request(
        request.url, data=request.body.encode(), headers=request.headers, method=request.method
    )
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            return str(json.load(response)["access_token"])
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        raise Unavailable(f"token request to {request.url} answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, ValueError, KeyError) as exc:
        raise Unavailable(f"token request to {request.url} failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    jwks_path: Path


def mint_es256_token(directory: Path, issuer: str, audience: str, lifetime_s: int = 3600) -> MintedToken:
    """An RFC 9068 access token signed with a fresh P-256 key, and the JWKS that verifies it."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "bench", "alg": "ES256", "use": "sig"})
    jwks_path = directory / "jwks.json"
    jwks_path.write_text(json.dumps({"keys": [public]}))
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": "bench",
        "client_id": "bench",
        "scope": "api",
        "iat": now,
        "exp": now + lifetime_s,
        "jti": "bench-token",
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench", "typ": "at+jwt"})
    return MintedToken(token=token, jwks_path=jwks_path)
