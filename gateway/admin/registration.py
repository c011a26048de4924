"""The registration workflow: an OPD submits an app, Kominfo approves or rejects it, and may suspend or resume it.

    submit   → apps row ``pending`` (nothing is routed, no client exists)
    approve  → OAuth client + route ``active`` + audit entry, in the caller's ONE transaction; the client
               secret is returned once and only its digest is stored
    reject   → ``rejected`` with a reason
    suspend  → app ``suspended`` (every instance answers 503 once its registry refreshes) and the app's client
               ``suspended`` (the token endpoint refuses it; the gateway refuses its live tokens)
    resume   → both ``active`` again

Every step writes its audit entry with ``append_audit`` in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import Actor, check_kominfo, check_may_submit, check_sees
from gateway.admin.bodies import AppSubmission
from gateway.apps import add_app, app_hosts, check_upstream_addresses, default_app_resource, stored_hosts
from gateway.claims import DEFAULT_CLAIMS
from gateway.errors import Conflict, NotFound
from idp.app_origins import app_origin, default_apps_domain
from idp.audit import append_audit
from idp.clients import ClientSecurity, add_client, check_jwks_uri, check_jwks_uri_address, check_redirect_uri
from idp.errors import InvalidInput
from idp.org import load_opd
from idp.profile_rule import ProfileGuard
from idp.storage.gateway_models import App
from idp.storage.models import Client, OpdUnit
from idp.upstream_addresses import UpstreamAddresses

BASE_SCOPES = ("openid", "profile", "email")


@dataclass(frozen=True)
class Approval:
    app: dict[str, Any]
    client_id: str
    client_secret: str | None


def app_json(app: App, unit: OpdUnit, issuer: str, *, apps_domain: str = "") -> dict[str, Any]:
    """``address``: the app's own origin (``hosts[0]``, with the hub's scheme and port), where people open it."""
    hosts = app_hosts(app.slug, apps_domain or default_apps_domain(issuer), stored_hosts(app))
    return {
        "slug": app.slug,
        "name": app.name,
        "description": app.description,
        "opd": unit.slug,
        "opd_path": unit.path,
        "status": app.status,
        "auth_mode": app.auth_mode,
        "upstreams": list(app.upstreams),
        "redirect_uris": list(app.redirect_uris),
        "scopes": app.requested_scopes.split(),
        "contact": app.contact,
        "client_id": app.client_id,
        "resource": app.resource or default_app_resource(issuer, app.slug, apps_domain),
        "hosts": list(hosts),
        "address": app_origin(issuer, hosts[0]) + "/",
        "restricted": app.restricted,
        "client_profile": app.client_profile,
        "jwks_uri": app.client_jwks_uri,
        "case_insensitive_paths": app.case_insensitive_paths,
        "allow_ambiguous_paths": app.allow_ambiguous_paths,
        "websocket_origins": list(app.websocket_origins or ()),
        "claims": list(DEFAULT_CLAIMS if app.claims is None else app.claims),
        "integrity": app.integrity or "none",
        "submitted_by": app.submitted_by,
        "reviewed_by": app.reviewed_by,
        "reviewed_at": app.reviewed_at,
        "reason": app.reason,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    }


async def load_app(session: AsyncSession, slug: str) -> tuple[App, OpdUnit]:
    found = (
        await session.execute(select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id).where(App.slug == slug))
    ).first()
    if found is None:
        raise NotFound(f"app '{slug}' does not exist")
    return found[0], found[1]


async def load_visible_app(session: AsyncSession, actor: Actor, slug: str) -> tuple[App, OpdUnit]:
    app, unit = await load_app(session, slug)
    check_sees(actor, unit.path)
    return app, unit


async def submit_app(
    session: AsyncSession,
    actor: Actor,
    body: AppSubmission,
    issuer: str,
    now: int,
    addresses: UpstreamAddresses | None = None,
    *,
    profiles: ProfileGuard,
    apps_domain: str = "",
) -> dict[str, Any]:
    unit = await load_opd(session, body.opd)
    check_may_submit(actor, unit.path)
    profiles.check_submission(body.slug, False, body.client_profile)
    uris = [check_redirect_uri(uri) for uri in dict.fromkeys(body.redirect_uris)]
    if body.client_profile and not body.jwks_uri:
        raise InvalidInput("the fapi2 profile needs private_key_jwt: give the client's jwks_uri")
    if body.jwks_uri:
        await check_jwks_uri_address(check_jwks_uri(body.jwks_uri), addresses or UpstreamAddresses())
    await add_app(
        session,
        slug=body.slug,
        opd_slug=unit.slug,
        upstreams=tuple(body.upstreams),
        auth_mode=body.auth_mode,
        issuer=issuer,
        now=now,
        name=body.name,
        status="pending",
        case_insensitive_paths=body.case_insensitive_paths,
        allow_ambiguous_paths=body.allow_ambiguous_paths,
        websocket_origins=tuple(body.websocket_origins),
        addresses=addresses,
        apps_domain=apps_domain,
        hosts=tuple(body.hosts),
    )
    app, unit = await load_app(session, body.slug)
    app.description, app.contact, app.submitted_by = body.description, body.contact, actor.sub
    app.redirect_uris, app.requested_scopes = uris, " ".join(body.scopes)
    app.client_profile, app.client_jwks_uri = body.client_profile, body.jwks_uri
    await session.flush()
    await append_audit(
        session,
        actor=actor.sub,
        action="app.submit",
        target=f"app:{app.slug}",
        detail={
            "opd": unit.slug,
            "auth_mode": app.auth_mode,
            "upstreams": list(app.upstreams),
            "redirect_uris": uris,
            "scopes": body.scopes,
            "client_profile": body.client_profile,
            "jwks_uri": body.jwks_uri,
        },
        now=now,
    )
    return app_json(app, unit, issuer, apps_domain=apps_domain)


async def approve_app(
    session: AsyncSession,
    actor: Actor,
    slug: str,
    issuer: str,
    now: int,
    addresses: UpstreamAddresses | None = None,
    *,
    profiles: ProfileGuard,
    apps_domain: str = "",
) -> Approval:
    """Client and route together: if anything here fails, the caller's transaction leaves neither."""
    check_kominfo(actor)
    app, unit = await load_app(session, slug)
    _check_status(app, ("pending",), "approve")
    # Again at approval: the settings, or what a submitted name resolves to, may have changed since.
    await check_upstream_addresses(tuple(app.upstreams), addresses or UpstreamAddresses())
    resource = app.resource or default_app_resource(issuer, app.slug, apps_domain)
    scopes = " ".join(dict.fromkeys([*BASE_SCOPES, *app.requested_scopes.split()]))
    grants = ("authorization_code", "refresh_token") if app.redirect_uris else ("client_credentials",)
    client, secret = await add_client(
        session,
        name=app.name,
        opd_slug=unit.slug,
        redirect_uris=tuple(app.redirect_uris),
        grant_types=grants,
        scope=scopes,
        resources=(resource,),
        now=now,
        auth_method="private_key_jwt" if app.client_jwks_uri else None,
        jwks_uri=app.client_jwks_uri,
        security=ClientSecurity(app.client_profile),
        addresses=addresses,
    )
    app.client_id, app.status, app.reason = client.client_id, "active", None
    _reviewed(app, actor, now)
    await session.flush()
    await profiles.check(session, app_slugs={app.slug})  # the policy may have changed since the submission
    await append_audit(
        session,
        actor=actor.sub,
        action="app.approve",
        target=f"app:{app.slug}",
        detail={
            "client_id": client.client_id,
            "grant_types": list(grants),
            "scope": scopes,
            "resource": resource,
            "profile": client.profile,
            "auth_method": client.auth_method,
        },
        now=now,
    )
    return Approval(app_json(app, unit, issuer, apps_domain=apps_domain), client.client_id, secret)


async def reject_app(
    session: AsyncSession, actor: Actor, slug: str, reason: str, issuer: str, now: int, *, apps_domain: str = ""
) -> dict[str, Any]:
    check_kominfo(actor)
    app, unit = await load_app(session, slug)
    _check_status(app, ("pending",), "reject")
    app.status, app.reason = "rejected", reason
    _reviewed(app, actor, now)
    await append_audit(
        session, actor=actor.sub, action="app.reject", target=f"app:{app.slug}", detail={"reason": reason}, now=now
    )
    return app_json(app, unit, issuer, apps_domain=apps_domain)


async def suspend_app(
    session: AsyncSession, actor: Actor, slug: str, reason: str, issuer: str, now: int, *, apps_domain: str = ""
) -> dict[str, Any]:
    """The kill switch: the route and the app's client stop together."""
    check_kominfo(actor)
    app, unit = await load_app(session, slug)
    _check_status(app, ("active",), "suspend")
    app.status, app.reason = "suspended", reason or None
    await _set_client_status(session, app.client_id, "suspended", now)
    _reviewed(app, actor, now)
    await append_audit(
        session,
        actor=actor.sub,
        action="app.suspend",
        target=f"app:{app.slug}",
        detail={"reason": reason, "client_id": app.client_id},
        now=now,
    )
    return app_json(app, unit, issuer, apps_domain=apps_domain)


async def resume_app(
    session: AsyncSession, actor: Actor, slug: str, issuer: str, now: int, *, apps_domain: str = ""
) -> dict[str, Any]:
    check_kominfo(actor)
    app, unit = await load_app(session, slug)
    _check_status(app, ("suspended",), "resume")
    app.status, app.reason = "active", None
    await _set_client_status(session, app.client_id, "active", now)
    _reviewed(app, actor, now)
    await append_audit(
        session,
        actor=actor.sub,
        action="app.resume",
        target=f"app:{app.slug}",
        detail={"client_id": app.client_id},
        now=now,
    )
    return app_json(app, unit, issuer, apps_domain=apps_domain)


def _check_status(app: App, allowed: tuple[str, ...], action: str) -> None:
    if app.status not in allowed:
        raise Conflict(f"cannot {action} app '{app.slug}': it is {app.status}")


def _reviewed(app: App, actor: Actor, now: int) -> None:
    # updated_at moves forward on every change: the registry's fingerprint notices it on every instance.
    app.reviewed_by, app.reviewed_at, app.updated_at = actor.sub, now, max(now, app.updated_at)


async def _set_client_status(session: AsyncSession, client_id: str | None, status: str, now: int) -> None:
    if client_id is None:
        return
    client = await session.scalar(select(Client).where(Client.client_id == client_id))
    if client is not None:
        client.status, client.updated_at = status, now
