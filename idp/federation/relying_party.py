"""Gerbang as a relying party of an upstream provider: OIDC Core §3.1 with PKCE (RFC 7636), ``iss`` in the
authorization response (RFC 9207), ``private_key_jwt`` (RFC 7523) or a client secret, and the ID token checked
as §3.1.3.7 asks — signature under an asymmetric algorithm the upstream announced, ``iss``, ``aud`` exactly our
client id, ``azp``, ``exp``, ``iat`` recent, ``nonce``, ``at_hash`` when present.

    UpstreamRefused     the upstream answered, and the answer is not acceptable (bad token, error response)
    UpstreamUnavailable (discovery.py) the upstream could not be reached or sent garbage
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import quote_plus, urlencode

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from idp.federation.discovery import UpstreamDirectory, UpstreamMetadata, UpstreamUnavailable
from idp.federation.registry import UpstreamCredentials
from idp.storage.models import UpstreamIdp

ID_TOKEN_ALGS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
LEEWAY = 30
MAX_ID_TOKEN_AGE = 600


class UpstreamRefused(Exception):
    """The upstream's answer was received and is not acceptable (detail for the log only)."""


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class VerifiedLogin:
    """What the upstream proved: the ID token's claims (with UserInfo's added) and the raw ID token."""

    claims: dict[str, Any]
    id_token: str


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def build_authorization_request(
    row: UpstreamIdp, metadata: UpstreamMetadata, redirect_uri: str, acr_values: list[str]
) -> AuthorizationStart:
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    params = {
        "response_type": "code",
        "client_id": row.client_id,
        "redirect_uri": redirect_uri,
        "scope": row.scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    if acr_values:
        params["acr_values"] = " ".join(acr_values)
    separator = "&" if "?" in metadata.authorization_endpoint else "?"
    return AuthorizationStart(
        f"{metadata.authorization_endpoint}{separator}{urlencode(params)}", state, nonce, verifier
    )


def check_authorization_response(params: dict[str, str], metadata: UpstreamMetadata) -> str:
    """The code from the callback's query; ``iss`` must name the upstream (RFC 9207 §2.4)."""
    iss = params.get("iss")
    if iss is not None and iss != metadata.issuer:
        raise UpstreamRefused(f"authorization response from issuer {iss!r}")
    if iss is None and metadata.iss_parameter_supported:
        raise UpstreamRefused("authorization response without iss from an upstream that announces it")
    if "error" in params:
        raise UpstreamRefused(f"upstream error {params['error'][:100]!r}")
    code = params.get("code")
    if not code or len(code) > 2048:
        raise UpstreamRefused("authorization response without a code")
    return code


def build_client_assertion(row: UpstreamIdp, credentials: UpstreamCredentials, audience: str, now: int) -> str:
    assert credentials.private_key_pem is not None
    key: ECKey | RSAKey
    try:
        key = ECKey.import_key(credentials.private_key_pem)
        alg = "ES256"
    except Exception:  # not an EC key: the registry accepted it as RSA
        key, alg = RSAKey.import_key(credentials.private_key_pem), "RS256"
    claims = {
        "iss": row.client_id,
        "sub": row.client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": alg, "kid": credentials.key_id, "typ": "JWT"}, claims, key)


async def exchange_code(
    row: UpstreamIdp,
    credentials: UpstreamCredentials,
    metadata: UpstreamMetadata,
    directory: UpstreamDirectory,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    nonce: str,
    now: int,
) -> VerifiedLogin:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if credentials.private_key_pem is not None:
        form.update(
            client_id=row.client_id,
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            client_assertion=build_client_assertion(row, credentials, metadata.issuer, now),
        )
    else:
        basic = f"{_form_escape(row.client_id)}:{_form_escape(credentials.client_secret or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    status, body = await directory.fetch_json("POST", metadata.token_endpoint, data=form, headers=headers)
    if status >= 500:
        raise UpstreamUnavailable(f"token endpoint answered HTTP {status}")
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise UpstreamRefused(f"token endpoint answered HTTP {status} {str(error)[:100]!r}")
    id_token, access_token = body.get("id_token"), body.get("access_token")
    if not isinstance(id_token, str) or not isinstance(access_token, str):
        raise UpstreamRefused("token response without id_token or access_token")
    if str(body.get("token_type", "")).lower() not in ("bearer", "dpop"):
        raise UpstreamRefused("token response with an unknown token_type")
    claims = await verify_id_token(id_token, row, metadata, directory, nonce=nonce, now=now, access_token=access_token)
    if metadata.userinfo_endpoint:
        claims = {**await _userinfo(metadata, directory, access_token, claims["sub"]), **claims}
    return VerifiedLogin(claims, id_token)


async def verify_id_token(
    token: str,
    row: UpstreamIdp,
    metadata: UpstreamMetadata,
    directory: UpstreamDirectory,
    *,
    nonce: str,
    now: int,
    access_token: str | None = None,
) -> dict[str, Any]:
    claims = await verify_upstream_jwt(token, metadata, directory)
    check_id_token_claims(claims, row.client_id, metadata.issuer, nonce, now)
    if access_token is not None and "at_hash" in claims:
        digest = hashlib.sha256(access_token.encode()).digest()
        expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        if not hmac.compare_digest(str(claims["at_hash"]), expected):
            raise UpstreamRefused("at_hash does not match the access token")
    return claims


async def verify_upstream_jwt(token: str, metadata: UpstreamMetadata, directory: UpstreamDirectory) -> dict[str, Any]:
    """A JWT signed by the upstream with an algorithm both we and it allow; its claims (not yet checked)."""
    allowed = [alg for alg in ID_TOKEN_ALGS if alg in metadata.id_token_algs]
    try:
        header = jws.extract_compact(token.encode()).protected if token.count(".") == 2 else None
    except (JoseError, ValueError):
        header = None
    if header is None or header.get("alg") not in allowed or any(name in header for name in FORBIDDEN_HEADERS):
        raise UpstreamRefused(f"token header not accepted: {header!r:.200}")
    key_set = await directory.key_set(metadata.issuer, header.get("kid"))
    try:
        decoded = jwt.decode(token, key_set, algorithms=allowed)
    except (JoseError, ValueError) as exc:
        raise UpstreamRefused(f"token signature not valid: {type(exc).__name__}") from exc
    return dict(decoded.claims)


def check_id_token_claims(claims: dict[str, Any], client_id: str, issuer: str, nonce: str, now: int) -> None:
    if claims.get("iss") != issuer:
        raise UpstreamRefused(f"ID token from issuer {claims.get('iss')!r}")
    aud = claims.get("aud")
    if aud != client_id and aud != [client_id]:
        raise UpstreamRefused(f"ID token for audience {aud!r}")
    if "azp" in claims and claims["azp"] != client_id:
        raise UpstreamRefused(f"ID token authorized party {claims['azp']!r}")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_time(exp) or exp <= now - LEEWAY:
        raise UpstreamRefused("ID token expired or without exp")
    if not _is_time(iat) or iat > now + LEEWAY or iat < now - MAX_ID_TOKEN_AGE:
        raise UpstreamRefused("ID token iat missing, in the future or too old")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise UpstreamRefused("ID token nonce does not match")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 255:
        raise UpstreamRefused("ID token without a usable sub")


def _is_time(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


async def _userinfo(
    metadata: UpstreamMetadata, directory: UpstreamDirectory, access_token: str, sub: str
) -> dict[str, Any]:
    assert metadata.userinfo_endpoint is not None
    status, body = await directory.fetch_json(
        "GET",
        metadata.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if status != 200 or not isinstance(body, dict):
        raise UpstreamUnavailable(f"userinfo answered HTTP {status}")
    if body.get("sub") != sub:  # OIDC Core §5.3.2: a different sub is a substituted response
        raise UpstreamRefused("userinfo sub differs from the ID token's")
    return body


def _form_escape(value: str) -> str:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding."""
    return quote_plus(value)
