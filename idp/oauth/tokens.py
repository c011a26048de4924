"""Token minting: RFC 9068 JWT access tokens, OpenID Connect ID tokens, opaque refresh tokens.

Signing goes through ``KeyRing.sign`` (the one module that signs).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from idp.clock import Clock
from idp.keys import KeyRing
from idp.storage.models import User

PROFILE_SCOPES = {
    "profile": ("name", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
    "opd": ("opd", "roles"),
    # National identifiers, each behind its own scope so a client asks for them by name and the person sees it
    # on the consent page: a brokering hub links accounts by them (idp.federation.linking).
    "nik": ("nik",),
    "nip": ("nip",),
}


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def half_hash(value: str, alg: str = "ES256") -> str:
    """OIDC Core §3.1.3.6 at_hash / c_hash: SHA-256 for ES256, RS256 and PS256; SHA-512 for EdDSA (Ed25519), as
    relying parties (oauth4webapi, node oidc-provider) compute it."""
    hasher = hashlib.sha512 if alg == "EdDSA" else hashlib.sha256
    full = hasher(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(full[: len(full) // 2]).rstrip(b"=").decode()


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """Claims released for the granted scopes (OIDC Core §5.4)."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims.update(name=user.name, preferred_username=user.email, updated_at=user.updated_at)
    if "email" in scopes:
        claims.update(email=user.email, email_verified=user.email_verified)
    if "opd" in scopes:
        memberships = sorted(user.memberships, key=lambda m: m.opd.path)
        claims["opd"] = memberships[0].opd.slug if memberships else None
        claims["roles"] = sorted({f"{m.role}@{m.opd.slug}" for m in memberships})
    if "nik" in scopes and user.nik:
        claims["nik"] = user.nik
    if "nip" in scopes and user.nip:
        claims["nip"] = user.nip
    return claims


@dataclass(frozen=True)
class MintedAccessToken:
    value: str
    jti: str
    expires_at: int
    expires_in: int


class TokenMinter:
    def __init__(self, keys: KeyRing, issuer: str, clock: Clock, access_ttl: int, id_ttl: int) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._access_ttl = access_ttl
        self._id_ttl = id_ttl

    def access_token(
        self,
        *,
        client_id: str,
        sub: str,
        scope: str,
        audience: list[str],
        auth_time: int | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> MintedAccessToken:
        """RFC 9068 §2: typ ``at+jwt``; ``aud`` is the resource(s) the token is for."""
        now = self._clock.now()
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": sub,
            "aud": audience[0] if len(audience) == 1 else audience,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self._access_ttl,
            "jti": jti,
        }
        if scope:
            claims["scope"] = scope
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if acr:
            claims["acr"] = acr
        if amr:
            claims["amr"] = amr
        if extra:
            claims.update(extra)
        value = self._keys.sign(claims, typ="at+jwt")
        return MintedAccessToken(value, jti, now + self._access_ttl, self._access_ttl)

    def id_token(
        self,
        *,
        client_id: str,
        user: User,
        scope: str,
        auth_time: int,
        acr: str,
        amr: list[str],
        nonce: str | None,
        sid: str | None,
        access_token: str | None,
        alg: str | None = None,
    ) -> str:
        """Signed with ``alg`` (the client's ``id_token_signed_response_alg``) or the hub's primary algorithm."""
        now = self._clock.now()
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + self._id_ttl,
            "auth_time": auth_time,
            "acr": acr,
            "amr": amr,
        }
        claims.update(user_claims(user, scope))
        if nonce:
            claims["nonce"] = nonce
        if sid:
            claims["sid"] = sid
        if access_token:
            claims["at_hash"] = half_hash(access_token, alg or self._keys.active.alg)
        return self._keys.sign(claims, typ="JWT", alg=alg)


def new_opaque_token() -> tuple[str, str]:
    """A 256-bit random token and the digest we store in its place."""
    value = secrets.token_urlsafe(32)
    return value, digest(value)
