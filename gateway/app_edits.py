"""Changing and removing registered apps (``gerbang apps update|remove``, the admin API, ``gerbang apply``), and the
audited forms of add/suspend/resume the CLI uses.

A change stamps ``updated_at`` (a removal lowers the row count): every gateway's registry notices within
``registry_refresh_seconds``. Each change writes its audit entry with a diff in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.apps import (
    AUTH_MODES,
    AppRecord,
    add_app,
    check_extra_hosts,
    check_integrity,
    check_upstream,
    check_upstream_addresses,
    check_websocket_origin,
    set_app_status,
    set_extra_hosts,
    stored_hosts,
)
from gateway.claims import DEFAULT_CLAIMS, check_claims
from idp.app_origins import default_apps_domain
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.clients import check_resource, load_client
from idp.errors import InvalidInput, NotFound
from idp.org import load_opd
from idp.profile_rule import ProfileGuard
from idp.storage.db import rows_affected
from idp.storage.gateway_models import App, GatewaySession
from idp.storage.models import OpdUnit
from idp.upstream_addresses import UpstreamAddresses

EDITABLE = (
    "name",
    "opd",
    "upstreams",
    "auth_mode",
    "client_id",
    "resource",
    "hosts",
    "restricted",
    "require_dpop",
    "integrity",
    "case_insensitive_paths",
    "allow_ambiguous_paths",
    "websocket_origins",
    "claims",
)


def app_view(record: AppRecord, stored_resource: str | None) -> dict[str, Any]:
    """The editable state of an app; ``resource`` is the stored one (None: the default URL at the hub)."""
    return {
        "name": record.name,
        "opd": record.opd,
        "upstreams": list(record.upstreams),
        "auth_mode": record.auth_mode,
        "client_id": record.client_id,
        "resource": stored_resource,
        "hosts": list(record.hosts[1:]),
        "restricted": record.restricted,
        "require_dpop": record.require_dpop,
        "integrity": record.integrity,
        "case_insensitive_paths": record.case_insensitive_paths,
        "allow_ambiguous_paths": record.allow_ambiguous_paths,
        "websocket_origins": list(record.websocket_origins),
        "claims": list(record.claims),
    }


async def load_app(session: AsyncSession, slug: str) -> tuple[App, OpdUnit]:
    found = (
        await session.execute(select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id).where(App.slug == slug))
    ).first()
    if found is None:
        raise NotFound(f"app '{slug}' does not exist")
    return found[0], found[1]


def _view(app: App, unit: OpdUnit) -> dict[str, Any]:
    return {
        "name": app.name,
        "opd": unit.slug,
        "upstreams": list(app.upstreams),
        "auth_mode": app.auth_mode,
        "client_id": app.client_id,
        "resource": app.resource,
        "hosts": list(stored_hosts(app)),
        "restricted": app.restricted,
        "require_dpop": bool(app.require_dpop),
        "integrity": app.integrity or "none",
        "case_insensitive_paths": bool(app.case_insensitive_paths),
        "allow_ambiguous_paths": bool(app.allow_ambiguous_paths),
        "websocket_origins": list(app.websocket_origins or ()),
        "claims": list(DEFAULT_CLAIMS if app.claims is None else app.claims),
    }


async def update_app(
    session: AsyncSession,
    slug: str,
    changes: dict[str, Any],
    *,
    issuer: str,
    actor: str,
    now: int,
    profiles: ProfileGuard,
    addresses: UpstreamAddresses | None = None,
    apps_domain: str = "",
) -> tuple[App, dict[str, Any]]:
    """Apply ``changes`` (a subset of ``EDITABLE``; ``None`` clears client_id and resource; ``hosts`` replaces the
    extra host names, ``[]`` or ``None`` clears them). The same rules
    as registration hold: upstream addresses the settings allow (``addresses``; without it, the defaults), no host
    that is the hub's or inside the apps domain, DPoP only for bearer apps, and Kominfo's profile rule (``profiles``:
    a restricted app's clients follow FAPI 2.0)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot change: {', '.join(unknown)}")
    app, unit = await load_app(session, slug)
    before = _view(app, unit)
    rules = _Rules(issuer, apps_domain or default_apps_domain(issuer), addresses or UpstreamAddresses())
    for field, value in changes.items():
        unit = await _apply_field(session, app, unit, field, value, rules)
    if app.require_dpop and app.auth_mode != "bearer":
        raise InvalidInput("--require-dpop applies to bearer apps (their callers present access tokens)")
    after = _view(app, unit)
    diff = build_diff(before, after)
    if diff:
        app.updated_at = max(now, app.updated_at + 1)
        detail: dict[str, Any] = {"diff": diff}
        if not set(after["claims"]) <= set(before["claims"]):
            detail["sessions_ended"] = await _end_sessions(session, slug, now)
        await session.flush()
        await profiles.check(session, app_slugs={slug})
        await append_audit(session, actor=actor, action="app.update", target=f"app:{slug}", detail=detail, now=now)
    return app, diff


async def _end_sessions(session: AsyncSession, slug: str, now: int) -> int:
    """The app's claims grew: its live sessions end, so each person's next visit signs in again and is asked to
    agree to the wider set (``idp.app_agreement``) before the app receives any of it."""
    result = await session.execute(
        update(GatewaySession).where(GatewaySession.app == slug, GatewaySession.ended_at.is_(None)).values(ended_at=now)
    )
    return rows_affected(result)


@dataclass(frozen=True)
class _Rules:
    issuer: str
    apps_domain: str
    addresses: UpstreamAddresses


async def _apply_field(
    session: AsyncSession, app: App, unit: OpdUnit, field: str, value: Any, rules: _Rules
) -> OpdUnit:
    if field == "name":
        if not str(value).strip():
            raise InvalidInput("name is required")
        app.name = str(value).strip()
    elif field == "opd":
        unit = await load_opd(session, value)
        app.opd_id = unit.id
    elif field == "upstreams":
        if not value:
            raise InvalidInput("at least one upstream URL is needed")
        checked = tuple(dict.fromkeys(check_upstream(url) for url in value))
        await check_upstream_addresses(checked, rules.addresses)
        app.upstreams = list(checked)
    elif field == "auth_mode":
        if value not in AUTH_MODES:
            raise InvalidInput(f"auth must be one of: {', '.join(AUTH_MODES)}")
        app.auth_mode = value
    elif field == "client_id":
        if value:
            await load_client(session, value)
        app.client_id = value or None
    elif field == "resource":
        app.resource = check_resource(value) if value else None
    elif field == "hosts":
        set_extra_hosts(
            app,
            await check_extra_hosts(
                session,
                tuple(value or ()),
                slug=app.slug,
                issuer=rules.issuer,
                apps_domain=rules.apps_domain,
                app_id=app.id,
            ),
        )
    elif field in ("restricted", "require_dpop", "case_insensitive_paths", "allow_ambiguous_paths"):
        setattr(app, field, bool(value))
    elif field == "integrity":
        app.integrity = check_integrity(value)
    elif field == "websocket_origins":
        app.websocket_origins = list(dict.fromkeys(check_websocket_origin(origin) for origin in value or ()))
    elif field == "claims":  # None: back to the default set
        app.claims = None if value is None else list(check_claims(value))
    return unit


async def remove_app(session: AsyncSession, slug: str, *, actor: str, now: int) -> dict[str, Any]:
    """Delete the app; every gateway stops routing to it (404) at its next registry refresh."""
    app, unit = await load_app(session, slug)
    before = _view(app, unit)
    await session.delete(app)
    await session.flush()
    await append_audit(
        session,
        actor=actor,
        action="app.remove",
        target=f"app:{slug}",
        detail={"diff": build_diff(before, {})},
        now=now,
    )
    return before


async def add_app_audited(
    session: AsyncSession, *, actor: str, now: int, profiles: ProfileGuard, **fields: Any
) -> AppRecord:
    record = await add_app(session, now=now, **fields)
    await profiles.check(session, app_slugs={record.slug})
    await append_audit(
        session,
        actor=actor,
        action="app.create",
        target=f"app:{record.slug}",
        detail={"diff": build_diff({}, app_view(record, fields.get("resource")))},
        now=now,
    )
    return record


async def set_app_status_audited(
    session: AsyncSession, slug: str, status: str, *, issuer: str, actor: str, now: int, apps_domain: str = ""
) -> AppRecord:
    app, _ = await load_app(session, slug)
    before = app.status
    record = await set_app_status(session, slug, status, now, issuer, apps_domain)
    action = {"suspended": "app.suspend", "active": "app.resume"}.get(status, f"app.{status}")
    await append_audit(
        session,
        actor=actor,
        action=action,
        target=f"app:{slug}",
        detail={"diff": build_diff({"status": before}, {"status": status})},
        now=now,
    )
    return record
