"""Dynamic client registration (RFC 7591) and management (RFC 7592), gated by Kominfo's initial access tokens.

    Kominfo issues an initial access token (``issue_initial_token``; stored by digest, single use, expiring)
    → POST /auth/clients with it as Bearer → a client in status ``pending`` (unusable until Kominfo approves)
      and a registration access token (stored by digest) for RFC 7592
    → GET/PUT/DELETE /auth/clients/{client_id} with the registration access token.

A PUT changes what Kominfo approved, so an active client goes back to ``pending`` for review (a suspended one
stays suspended). Every step is audited in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.clients import (
    ClientMetadata,
    ClientSecurity,
    check_client_metadata,
    check_jwks_uri_address,
    digest_secret,
    new_client_id,
)
from idp.errors import GerbangError, InvalidInput
from idp.org import load_opd
from idp.profile_rule import ProfileGuard
from idp.storage.models import Client, Consent, InitialAccessToken
from idp.upstream_addresses import UpstreamAddresses

Uri = Annotated[str, Field(max_length=500)]


class RegistrationError(GerbangError):
    """RFC 7591 §3.2.2 / RFC 6750 §3.1 errors: ``error`` is the code, ``message`` the public description."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class ClientMetadataIn(BaseModel):
    """RFC 7591 §2 metadata we act on; other members are ignored, as §2 allows."""

    model_config = ConfigDict(extra="ignore")
    client_id: Annotated[str, Field(max_length=64)] | None = None  # PUT only (RFC 7592 §2.2)
    client_secret: Annotated[str, Field(max_length=200)] | None = None
    client_name: Annotated[str, Field(min_length=1, max_length=200)]
    redirect_uris: Annotated[list[Uri], Field(max_length=10)] = []
    post_logout_redirect_uris: Annotated[list[Uri], Field(max_length=10)] = []
    grant_types: Annotated[list[str], Field(max_length=3)] = ["authorization_code"]
    response_types: Annotated[list[str], Field(max_length=1)] = ["code"]
    token_endpoint_auth_method: str = "client_secret_basic"
    scope: Annotated[str, Field(max_length=1000)] = "openid"
    jwks: dict[str, Any] | None = None
    jwks_uri: Uri | None = None
    # RFC 9126 §6, RFC 9449 §5.2, OIDC Registration §2; "fapi2" applies the FAPI 2.0 Security Profile.
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    id_token_signed_response_alg: str | None = None
    security_profile: str | None = None


def read_metadata(raw: bytes) -> ClientMetadataIn:
    try:
        return ClientMetadataIn.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise RegistrationError(400, "invalid_client_metadata", f"{where}: {first['msg']}") from exc


async def _checked_address(meta: ClientMetadata, addresses: UpstreamAddresses | None) -> None:
    if meta.jwks_uri:
        try:
            await check_jwks_uri_address(meta.jwks_uri, addresses or UpstreamAddresses())
        except InvalidInput as exc:
            raise RegistrationError(400, "invalid_client_metadata", exc.message) from exc


def _checked(meta: ClientMetadataIn) -> Any:
    if "authorization_code" in meta.grant_types and meta.response_types != ["code"]:
        raise RegistrationError(400, "invalid_client_metadata", 'response_types must be ["code"]')
    try:
        return check_client_metadata(
            name=meta.client_name,
            redirect_uris=tuple(meta.redirect_uris),
            post_logout_redirect_uris=tuple(meta.post_logout_redirect_uris),
            grant_types=tuple(dict.fromkeys(meta.grant_types)),
            scope=meta.scope,
            public=meta.token_endpoint_auth_method == "none",
            auth_method=meta.token_endpoint_auth_method,
            jwks=meta.jwks,
            jwks_uri=meta.jwks_uri,
            security=ClientSecurity(
                meta.security_profile,
                meta.require_pushed_authorization_requests,
                meta.dpop_bound_access_tokens,
                meta.id_token_signed_response_alg,
            ),
        )
    except InvalidInput as exc:
        code = "invalid_redirect_uri" if "redirect URI" in exc.message else "invalid_client_metadata"
        raise RegistrationError(400, code, exc.message) from exc


async def issue_initial_token(
    session: AsyncSession, *, created_by: str, opd_slug: str | None, ttl: int, now: int
) -> tuple[str, InitialAccessToken]:
    """A new single-use initial access token; the plain value is returned once and only its digest kept."""
    opd_id = (await load_opd(session, opd_slug)).id if opd_slug else None
    token = secrets.token_urlsafe(32)
    row = InitialAccessToken(
        token_digest=digest_secret(token), opd_id=opd_id, created_by=created_by, created_at=now, expires_at=now + ttl
    )
    session.add(row)
    await append_audit(
        session,
        actor=created_by,
        action="client.initial_token",
        target=f"opd:{opd_slug or '-'}",
        detail={"expires_at": row.expires_at, "digest_prefix": row.token_digest[:12]},
        now=now,
    )
    return token, row


async def register_client(
    session: AsyncSession,
    initial_token: str,
    raw: bytes,
    issuer: str,
    now: int,
    addresses: UpstreamAddresses | None = None,
) -> dict[str, Any]:
    grant = await session.get(InitialAccessToken, digest_secret(initial_token), with_for_update=True)
    if grant is None or grant.used_at is not None or grant.expires_at <= now:
        raise RegistrationError(401, "invalid_token", "the initial access token is invalid, used or expired")
    meta = _checked(read_metadata(raw))
    await _checked_address(meta, addresses)
    client_id = new_client_id()
    secret = None if meta.auth_method in ("none", "private_key_jwt") else secrets.token_urlsafe(32)
    registration_token = secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id,
        secret_digest=digest_secret(secret) if secret else None,
        name=meta.name,
        opd_id=grant.opd_id,
        redirect_uris=meta.redirect_uris,
        post_logout_redirect_uris=meta.post_logout_redirect_uris,
        grant_types=meta.grant_types,
        scope=meta.scope,
        auth_method=meta.auth_method,
        jwks=meta.jwks,
        jwks_uri=meta.jwks_uri,
        resources=[],
        first_party=False,
        status="pending",
        created_at=now,
        updated_at=now,
        registration_token_digest=digest_secret(registration_token),
    )
    apply_security(client, meta.security)
    session.add(client)
    grant.used_at, grant.used_by_client = now, client_id
    await session.flush()
    await append_audit(
        session,
        actor=f"initial-token:{grant.token_digest[:12]}",
        action="client.register",
        target=f"client:{client_id}",
        detail={"name": meta.name, "grant_types": meta.grant_types, "redirect_uris": meta.redirect_uris},
        now=now,
    )
    document = client_document(client, issuer)
    document.update(registration_access_token=registration_token, client_secret_expires_at=0)
    if secret:
        document["client_secret"] = secret
    return document


async def load_registered(session: AsyncSession, client_id: str, registration_token: str) -> Client:
    """RFC 7592 §2: an unknown client and a wrong token look the same (401), so ids cannot be probed."""
    client = await session.scalar(
        select(Client).where(Client.registration_token_digest == digest_secret(registration_token))
    )
    if client is None or client.client_id != client_id:
        raise RegistrationError(401, "invalid_token", "the registration access token is invalid")
    return client


async def update_client(
    session: AsyncSession,
    client: Client,
    raw: bytes,
    now: int,
    profiles: ProfileGuard,
    addresses: UpstreamAddresses | None = None,
) -> dict[str, Any]:
    """RFC 7592 §2.2; Kominfo's profile rule (``profiles``) holds: a client of a restricted app keeps fapi2."""
    meta_in = read_metadata(raw)
    if meta_in.client_id != client.client_id:
        raise RegistrationError(400, "invalid_client_metadata", "client_id must be the client's own")
    if meta_in.client_secret is not None and digest_secret(meta_in.client_secret) != client.secret_digest:
        raise RegistrationError(400, "invalid_client_metadata", "client_secret does not match")
    meta = _checked(meta_in)
    await _checked_address(meta, addresses)
    if (meta.auth_method in ("none", "private_key_jwt")) != (client.secret_digest is None):
        raise RegistrationError(400, "invalid_client_metadata", "token_endpoint_auth_method cannot change kind")
    before = _audited_view(client)
    client.name, client.redirect_uris, client.grant_types = meta.name, meta.redirect_uris, meta.grant_types
    client.post_logout_redirect_uris, client.scope = meta.post_logout_redirect_uris, meta.scope
    client.auth_method, client.jwks, client.jwks_uri = meta.auth_method, meta.jwks, meta.jwks_uri
    client.updated_at = now
    apply_security(client, meta.security)
    if client.status == "active":
        client.status = "pending"  # what Kominfo approved has changed: review again
    await session.flush()
    try:
        await profiles.check(session, client_ids={client.client_id})
    except InvalidInput as exc:
        raise RegistrationError(400, "invalid_client_metadata", exc.message) from exc
    await append_audit(
        session,
        actor=f"client:{client.client_id}",
        action="client.update",
        target=f"client:{client.client_id}",
        detail={
            "redirect_uris": meta.redirect_uris,
            "grant_types": meta.grant_types,
            "scope": meta.scope,
            "diff": build_diff(before, _audited_view(client)),
        },
        now=now,
    )
    return client_document(client, profiles.issuer)


def _audited_view(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scope": client.scope,
        "auth_method": client.auth_method,
        "jwks_uri": client.jwks_uri,
        "status": client.status,
    }


async def delete_client(session: AsyncSession, client: Client, now: int) -> None:
    client_id = client.client_id
    for consent in (await session.scalars(select(Consent).where(Consent.client_id == client_id))).all():
        await session.delete(consent)
    await session.delete(client)
    await append_audit(
        session, actor=f"client:{client_id}", action="client.delete", target=f"client:{client_id}", detail={}, now=now
    )


def apply_security(client: Client, security: ClientSecurity) -> None:
    client.profile, client.require_par = security.profile, security.require_par
    client.dpop_bound, client.id_token_alg = security.dpop_bound, security.id_token_alg


def client_document(client: Client, issuer: str) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the registered metadata; ``status`` is Gerbang's own member."""
    document: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.auth_method,
        "scope": client.scope,
        "status": client.status,
        "registration_client_uri": f"{issuer.rstrip('/')}/auth/clients/{client.client_id}",
        "require_pushed_authorization_requests": bool(client.require_par),
        "dpop_bound_access_tokens": bool(client.dpop_bound),
        "id_token_signed_response_alg": client.id_token_alg or "ES256",
    }
    if client.profile:
        document["security_profile"] = client.profile
    if client.jwks:
        document["jwks"] = client.jwks
    if client.jwks_uri:
        document["jwks_uri"] = client.jwks_uri
    return document
