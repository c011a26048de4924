"""Changing and removing registered apps (``gerbang apps update|remove``, the admin API, ``gerbang apply``), and the
audited forms of add/suspend/resume the CLI uses.

A change stamps ``updated_at`` (a removal lowers the row count): every gateway's registry notices within
``registry_refresh_seconds``. Each change writes its audit entry with a diff in the caller's transaction.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.apps import AUTH_MODES, AppRecord, add_app, check_host, check_upstream, set_app_status
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.clients import check_resource, load_client
from idp.errors import Conflict, InvalidInput, NotFound
from idp.org import load_opd
from idp.storage.models import App, OpdUnit

EDITABLE = ("name", "opd", "upstreams", "auth_mode", "client_id", "resource", "host", "restricted")


def app_view(record: AppRecord, stored_resource: str | None) -> dict[str, Any]:
    """The editable state of an app; ``resource`` is the stored one (None: the default URL at the hub)."""
    return {"name": record.name, "opd": record.opd, "upstreams": list(record.upstreams),
            "auth_mode": record.auth_mode, "client_id": record.client_id, "resource": stored_resource,
            "host": record.host, "restricted": record.restricted}


async def load_app(session: AsyncSession, slug: str) -> tuple[App, OpdUnit]:
    found = (await session.execute(select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id)
                                   .where(App.slug == slug))).first()
    if found is None:
        raise NotFound(f"app '{slug}' does not exist")
    return found[0], found[1]


def _view(app: App, unit: OpdUnit) -> dict[str, Any]:
    return {"name": app.name, "opd": unit.slug, "upstreams": list(app.upstreams), "auth_mode": app.auth_mode,
            "client_id": app.client_id, "resource": app.resource, "host": app.host, "restricted": app.restricted}


async def update_app(session: AsyncSession, slug: str, changes: dict[str, Any], *, issuer: str, actor: str,
                     now: int) -> tuple[App, dict[str, Any]]:
    """Apply ``changes`` (a subset of ``EDITABLE``; ``None`` clears client_id, resource and host)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot change: {', '.join(unknown)}")
    app, unit = await load_app(session, slug)
    before = _view(app, unit)
    for field, value in changes.items():
        unit = await _apply_field(session, app, unit, field, value, issuer)
    diff = build_diff(before, _view(app, unit))
    if diff:
        app.updated_at = max(now, app.updated_at + 1)
        await session.flush()
        await append_audit(session, actor=actor, action="app.update", target=f"app:{slug}", detail={"diff": diff},
                           now=now)
    return app, diff


async def _apply_field(session: AsyncSession, app: App, unit: OpdUnit, field: str, value: Any,
                       issuer: str) -> OpdUnit:
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
        app.upstreams = list(dict.fromkeys(check_upstream(url) for url in value))
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
    elif field == "host":
        app.host = await _checked_host(session, app, value, issuer)
    elif field == "restricted":
        app.restricted = bool(value)
    return unit


async def _checked_host(session: AsyncSession, app: App, value: str | None, issuer: str) -> str | None:
    if not value:
        return None
    host = check_host(value)
    if host == urlsplit(issuer).hostname:
        raise InvalidInput("host must not be the hub's own host name (it would capture the hub's own pages)")
    other = await session.scalar(select(App.slug).where(App.host == host, App.id != app.id))
    if other is not None:
        raise Conflict(f"host '{host}' already belongs to app '{other}'")
    return host


async def remove_app(session: AsyncSession, slug: str, *, actor: str, now: int) -> dict[str, Any]:
    """Delete the app; every gateway stops routing to it (404) at its next registry refresh."""
    app, unit = await load_app(session, slug)
    before = _view(app, unit)
    await session.delete(app)
    await session.flush()
    await append_audit(session, actor=actor, action="app.remove", target=f"app:{slug}",
                       detail={"diff": build_diff(before, {})}, now=now)
    return before


async def add_app_audited(session: AsyncSession, *, actor: str, now: int, **fields: Any) -> AppRecord:
    record = await add_app(session, now=now, **fields)
    await append_audit(session, actor=actor, action="app.create", target=f"app:{record.slug}",
                       detail={"diff": build_diff({}, app_view(record, fields.get("resource")))}, now=now)
    return record


async def set_app_status_audited(session: AsyncSession, slug: str, status: str, *, issuer: str, actor: str,
                                 now: int) -> AppRecord:
    app, _ = await load_app(session, slug)
    before = app.status
    record = await set_app_status(session, slug, status, now, issuer)
    action = {"suspended": "app.suspend", "active": "app.resume"}.get(status, f"app.{status}")
    await append_audit(session, actor=actor, action=action, target=f"app:{slug}",
                       detail={"diff": build_diff({"status": before}, {"status": status})}, now=now)
    return record
