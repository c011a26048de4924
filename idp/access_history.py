"""Riwayat akses: which OPD app received the citizen's identity, and when.

Two sources, merged newest first:

- **token**: token issuance. Every grant (an authorization code redeemed by an app) is one entry with
  the app, the OPD that runs it, and what it was given (the scope). The hub's own clients (the gateway
  signing in for ``session`` apps, the console) are left out: the gateway's entries name the apps.
- **gateway**: identity assertions. The gateway records (user, app, OPD, time) when it forwards a
  request with ``X-Gerbang-Assertion`` (``gateway.access_recorder``: one row per user and app per
  dedupe window, written in batches to ``gateway_accesses``) and the identity claims the assertion
  carried (``claims``: names only; ``None`` for rows written before claims were recorded, shown as "not
  recorded"). Names are looked up now; an app or OPD removed since shows its slug.

This module is also the provider's one door into the gateway's tables (``idp.storage.gateway_models``;
``tests/unit/test_layering.py`` keeps it the only one outside ``idp/storage``): what the account page, the data
export, withdrawal, restriction, deletion, deprovisioning and the breach listing read or end there — a person's
gateway accesses and gateway sessions — and the little of the app registry they name (an app's name, OPD and
client; the apps of a client or of an OPD; the resources token exchange may name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from idp.clients import HUB_CLIENT_IDS
from idp.storage.db import rows_affected
from idp.storage.gateway_models import App, AppHost, GatewayAccess, GatewaySession
from idp.storage.models import AppAgreement, Client, Grant, OpdUnit

LIMIT = 50

Via = Literal["token", "gateway"]


@dataclass(frozen=True)
class AccessEntry:
    at: int
    app: str
    opd: str | None
    scope: str  # what a token carried; empty for a gateway assertion (see ``claims``)
    revoked: bool
    via: Via = "token"
    claims: tuple[str, ...] | None = None  # the claims a gateway assertion carried; None: not recorded


async def load_access_history(session: AsyncSession, user_id: str, limit: int = LIMIT) -> list[AccessEntry]:
    entries = [
        *await load_token_accesses(session, user_id, limit),
        *await load_gateway_accesses(session, user_id, limit),
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


async def load_token_accesses(session: AsyncSession, user_id: str, limit: int) -> list[AccessEntry]:
    query = (
        select(Grant.created_at, Client.name, OpdUnit.name, Grant.scope, Grant.revoked_at)
        .join(Client, Client.client_id == Grant.client_id)
        .outerjoin(OpdUnit, OpdUnit.id == Client.opd_id)
        .where(Grant.user_id == user_id, Grant.client_id.not_in(HUB_CLIENT_IDS))
        .order_by(Grant.created_at.desc())
        .limit(limit)
    )
    return [
        AccessEntry(at, app, opd, scope, revoked is not None, "token")
        for at, app, opd, scope, revoked in (await session.execute(query)).all()
    ]


async def load_gateway_accesses(session: AsyncSession, user_id: str, limit: int) -> list[AccessEntry]:
    unit = aliased(OpdUnit)
    query = (
        select(
            GatewayAccess.at,
            func.coalesce(App.name, GatewayAccess.app),
            func.coalesce(unit.name, GatewayAccess.opd),
            GatewayAccess.claims,
        )
        .outerjoin(App, App.slug == GatewayAccess.app)
        .outerjoin(unit, unit.slug == GatewayAccess.opd)
        .where(GatewayAccess.user_id == user_id)
        .order_by(GatewayAccess.at.desc(), GatewayAccess.id.desc())
        .limit(limit)
    )
    return [
        AccessEntry(at, app, opd, "", False, "gateway", None if claims is None else tuple(claims.split()))
        for at, app, opd, claims in (await session.execute(query)).all()
    ]


async def load_accessed_app_slugs(session: AsyncSession, user_id: str) -> set[str]:
    """The apps the gateway sent the person's identity to or made a gateway session on: slugs as recorded."""
    slugs = set(
        (await session.scalars(select(GatewayAccess.app).where(GatewayAccess.user_id == user_id).distinct())).all()
    )
    sessions = select(GatewaySession.app).where(GatewaySession.user_id == user_id, GatewaySession.app.is_not(None))
    slugs |= {slug for slug in (await session.scalars(sessions.distinct())).all() if slug is not None}
    return slugs


async def load_app_recipients(
    session: AsyncSession, app_slug: str, since: int, until: int
) -> list[tuple[str, str | None]]:
    """(user id, claim names or None) of every identity the gateway sent to ``app_slug`` in ``[since, until)``."""
    query = (
        select(GatewayAccess.user_id, GatewayAccess.claims)
        .where(GatewayAccess.app == app_slug, GatewayAccess.at >= since, GatewayAccess.at < until)
        .distinct()
    )
    return [(user_id, claims) for user_id, claims in (await session.execute(query)).all()]


async def delete_accesses_before(session: AsyncSession, cutoff: int) -> int:
    """The retention: gateway accesses older than ``cutoff`` go; returns how many."""
    return rows_affected(await session.execute(delete(GatewayAccess).where(GatewayAccess.at < cutoff)))


async def end_gateway_sessions(session: AsyncSession, user_id: str, now: int, *, app: str | None = None) -> int:
    """End the person's open gateway sessions (only those on one app's host when ``app`` names it)."""
    query = update(GatewaySession).where(GatewaySession.user_id == user_id, GatewaySession.ended_at.is_(None))
    if app is not None:
        query = query.where(GatewaySession.app == app)
    return rows_affected(await session.execute(query.values(ended_at=now)))


@dataclass(frozen=True)
class RegisteredApp:
    """What the provider's data-protection duties read of an app in the gateway's registry."""

    slug: str
    name: str
    opd_name: str
    status: str
    auth_mode: str
    client_id: str | None
    requested_scopes: str
    claims: list[str] | None


def _registered_apps() -> Select[App, str]:
    return select(App, OpdUnit.name).join(OpdUnit, OpdUnit.id == App.opd_id)


def _registered(app: App, opd_name: str) -> RegisteredApp:
    return RegisteredApp(
        app.slug, app.name, opd_name, app.status, app.auth_mode, app.client_id, app.requested_scopes, app.claims
    )


async def load_registered_app(session: AsyncSession, app_slug: str) -> RegisteredApp | None:
    found = (await session.execute(_registered_apps().where(App.slug == app_slug))).first()
    return None if found is None else _registered(*found)


async def load_registered_apps(session: AsyncSession) -> list[RegisteredApp]:
    """Every app not rejected, by slug (the processing register)."""
    query = _registered_apps().where(App.status != "rejected").order_by(App.slug)
    return [_registered(app, opd_name) for app, opd_name in (await session.execute(query)).all()]


async def is_app(session: AsyncSession, app_slug: str) -> bool:
    return await session.scalar(select(App.id).where(App.slug == app_slug)) is not None


async def load_app_name(session: AsyncSession, app_slug: str) -> str | None:
    return await session.scalar(select(App.name).where(App.slug == app_slug))


async def load_session_app_names(session: AsyncSession, slugs: set[str]) -> list[tuple[str, str]]:
    """(slug, name) of the ``session`` apps among ``slugs``, by name."""
    if not slugs:
        return []
    query = select(App.slug, App.name).where(App.slug.in_(slugs), App.auth_mode == "session").order_by(App.name)
    return [(slug, name) for slug, name in (await session.execute(query)).all()]


async def load_app_slugs_of_client(session: AsyncSession, client_id: str) -> list[str]:
    """The apps that name ``client_id`` (the gateway signs users in, or accepts tokens, with it)."""
    return list((await session.scalars(select(App.slug).where(App.client_id == client_id))).all())


async def count_apps_of_opd(session: AsyncSession, opd_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(App).where(App.opd_id == opd_id)) or 0)


async def load_active_apps_of_clients(
    session: AsyncSession, client_ids: set[str]
) -> list[tuple[str | None, str, str | None]]:
    """(client id, slug, resource) of the active apps of ``client_ids``: the audiences token exchange may name."""
    query = select(App.client_id, App.slug, App.resource).where(
        App.client_id.in_(client_ids), or_(App.status == "active", App.status.is_(None))
    )
    return [(client_id, slug, resource) for client_id, slug, resource in (await session.execute(query)).all()]


@dataclass(frozen=True)
class SessionApp:
    """An app as the provider's agreement page needs it (``idp.app_agreement``)."""

    app_id: int
    slug: str
    name: str
    opd_name: str | None
    auth_mode: str
    status: str | None
    client_id: str | None
    claims: list[str] | None


async def load_app_by_host(session: AsyncSession, host: str, apps_domain: str) -> SessionApp | None:
    """The app served at ``host``: one of its extra host names, else ``{slug}.{apps_domain}``."""
    query = select(App, OpdUnit.name).outerjoin(OpdUnit, OpdUnit.id == App.opd_id)
    found = (await session.execute(query.join(AppHost, AppHost.app_id == App.id).where(AppHost.host == host))).first()
    prefix, dot, domain = host.partition(".")
    if found is None and dot and domain == apps_domain:
        found = (await session.execute(query.where(App.slug == prefix))).first()
    if found is None:
        return None
    app, opd_name = found
    return SessionApp(app.id, app.slug, app.name, opd_name, app.auth_mode, app.status, app.client_id, app.claims)


async def load_app_id(session: AsyncSession, app_slug: str) -> int | None:
    return await session.scalar(select(App.id).where(App.slug == app_slug))


async def load_app_agreements(session: AsyncSession, user_id: str) -> list[tuple[str, str, list[str], int]]:
    """(app slug, app name, claims, agreed at) of every session app the person agreed to (``idp.app_agreement``)."""
    rows = await session.execute(
        select(App.slug, App.name, AppAgreement.claims, AppAgreement.agreed_at)
        .join(App, App.id == AppAgreement.app_id)
        .where(AppAgreement.user_id == user_id)
        .order_by(AppAgreement.agreed_at)
    )
    return [(slug, name, list(claims), agreed_at) for slug, name, claims, agreed_at in rows.all()]


async def load_app_audiences(
    session: AsyncSession,
    *,
    client_ids: set[str],
    resources: set[str],
    default_slugs: set[str],
    slugs: set[str],
    every: bool,
) -> list[tuple[str, str | None, bool, str | None]]:
    """(slug, resource, restricted, own client) of the apps whose own client is one of ``client_ids``, whose
    resource is one of ``resources``, which have no resource of their own and one of ``default_slugs``, or which
    are named in ``slugs``; with ``every``, all of them (``idp.profile_rule``)."""
    conditions: list[ColumnElement[bool]] = []
    if client_ids:
        conditions.append(App.client_id.in_(client_ids))
    if resources:
        conditions.append(App.resource.in_(resources))
    if default_slugs:
        conditions.append(App.resource.is_(None) & App.slug.in_(default_slugs))
    if slugs:
        conditions.append(App.slug.in_(slugs))
    if every:
        conditions.append(true())
    if not conditions:
        return []
    # Columns, not App rows: an App row also loads its extra hosts (a second query on every token request).
    query = select(App.slug, App.resource, App.restricted, App.client_id).where(or_(*conditions))
    return [
        (slug, resource, bool(restricted), client_id)
        for slug, resource, restricted, client_id in (await session.execute(query)).all()
    ]
