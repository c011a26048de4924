"""The console's audit page as people read it: WIB time, who (name and email), what (in words), on what (by
name) and the change; filtered by actor, action, target, OPD unit and date range, a page at a time.

Filters (query parameters): ``actor`` (an email, a user id, or a ``cli:`` prefix), ``action`` (exact, or a
prefix ending in ``.`` such as ``app.``), ``target`` (``app:parkir``, or a bare slug, client id or email),
``opd`` (everything about that unit's subtree: the units, their apps, clients and members), ``from``/``to``
(``YYYY-MM-DD``, days in WIB, both included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import Actor, check_kominfo
from gateway.admin.http import Page
from gateway.errors import BadRequest
from idp.org import load_opd
from idp.storage.gateway_models import App
from idp.storage.models import AuditEntry, Client, Membership, OpdUnit, User

WIB = ZoneInfo("Asia/Jakarta")
FILTERS = ("actor", "action", "target", "opd", "from", "to")
# Subtree targets are listed in the query; past this many, the filter would be a table scan in disguise.
MAX_OPD_TARGETS = 5000


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    opd: str | None = None
    since: date | None = None
    until: date | None = None


def read_filters(params: Any) -> AuditFilters:
    values = {name: (params.get(name) or "").strip() or None for name in FILTERS}
    return AuditFilters(
        values["actor"],
        values["action"],
        values["target"],
        values["opd"],
        _day(values["from"], "from"),
        _day(values["to"], "to"),
    )


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date as YYYY-MM-DD") from None


def wib_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=WIB).timestamp())


def wib_time(at: int) -> str:
    return datetime.fromtimestamp(at, WIB).strftime("%d-%m-%Y %H:%M:%S WIB")


async def load_audit_page(
    session: AsyncSession, actor: Actor, page: Page, filters: AuditFilters
) -> list[dict[str, Any]]:
    """``page.limit + 1`` entries at most (the caller's pager sees whether there is a next page), newest first."""
    check_kominfo(actor)
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    for condition in await _conditions(session, filters):
        query = query.where(condition)
    entries = (await session.scalars(query.offset(page.offset).limit(page.limit + 1))).all()
    names = await _names(session, entries)
    return [_row(entry, names) for entry in entries]


async def _conditions(session: AsyncSession, filters: AuditFilters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.actor:
        found.append(await _actor_condition(session, filters.actor))
    if filters.action:
        found.append(
            AuditEntry.action.startswith(filters.action, autoescape=True)
            if filters.action.endswith(".")
            else AuditEntry.action == filters.action
        )
    if filters.target:
        found.append(AuditEntry.target.in_(await _targets_named(session, filters.target)))
    if filters.opd:
        found.append(AuditEntry.target.in_(await _subtree_targets(session, filters.opd)))
    if filters.since:
        found.append(AuditEntry.at >= wib_start(filters.since))
    if filters.until:
        found.append(AuditEntry.at < wib_start(filters.until + timedelta(days=1)))
    return found


async def _actor_condition(session: AsyncSession, value: str) -> ColumnElement[bool]:
    if value.startswith("cli:"):
        return AuditEntry.actor.startswith(value, autoescape=True)
    user_id = await session.scalar(select(User.id).where(User.email == value.lower())) if "@" in value else None
    return AuditEntry.actor == (user_id or value)


async def _targets_named(session: AsyncSession, value: str) -> list[str]:
    if ":" in value:
        return [value]
    targets = [f"app:{value}", f"client:{value}", f"opd:{value}", f"key:{value}"]
    user_id = await session.scalar(select(User.id).where(or_(User.email == value.lower(), User.id == value)))
    if user_id is not None:
        targets.append(f"user:{user_id}")
    return targets


async def _subtree_targets(session: AsyncSession, slug: str) -> list[str]:
    unit = await load_opd(session, slug)
    units = (
        await session.execute(
            select(OpdUnit.id, OpdUnit.slug).where(OpdUnit.path.startswith(unit.path, autoescape=True))
        )
    ).all()
    ids = [unit_id for unit_id, _ in units]
    targets = [f"opd:{s}" for _, s in units]
    targets += [f"app:{s}" for s in (await session.scalars(select(App.slug).where(App.opd_id.in_(ids)))).all()]
    targets += [
        f"client:{c}" for c in (await session.scalars(select(Client.client_id).where(Client.opd_id.in_(ids)))).all()
    ]
    targets += [
        f"user:{u}"
        for u in (await session.scalars(select(Membership.user_id).distinct().where(Membership.opd_id.in_(ids)))).all()
    ]
    if len(targets) > MAX_OPD_TARGETS:
        raise BadRequest("this OPD unit has too many records to filter by; choose a smaller unit or a target")
    return targets


async def _names(session: AsyncSession, entries: Any) -> dict[str, str]:
    """``user:<id>``, ``app:<slug>``, ``client:<id>``, ``opd:<slug>`` → a name people recognise."""
    wanted: dict[str, set[str]] = {"user": set(), "app": set(), "client": set(), "opd": set()}
    for entry in entries:
        kind, _, key = entry.target.partition(":")
        if kind in wanted:
            wanted[kind].add(key)
        if not entry.actor.startswith(("cli:", "client:", "initial-token:", "gerbang")):
            wanted["user"].add(entry.actor)
    names: dict[str, str] = {}
    if wanted["user"]:
        for user_id, name, email in (
            await session.execute(select(User.id, User.name, User.email).where(User.id.in_(wanted["user"])))
        ).all():
            names[f"user:{user_id}"] = f"{name} <{email}>"
    for kind, model, key in (
        ("app", App, App.slug),
        ("client", Client, Client.client_id),
        ("opd", OpdUnit, OpdUnit.slug),
    ):
        if wanted[kind]:
            for value, name in (await session.execute(select(key, model.name).where(key.in_(wanted[kind])))).all():
                names[f"{kind}:{value}"] = f"{name} ({value})"
    return names


def _row(entry: AuditEntry, names: dict[str, str]) -> dict[str, Any]:
    detail = entry.detail or {}
    diff = detail.get("diff") if isinstance(detail.get("diff"), dict) else None
    changes = [
        {"field": field, "from": _show(change.get("from")), "to": _show(change.get("to"))}
        for field, change in (diff or {}).items()
        if isinstance(change, dict)
    ]
    others = [
        {"field": key, "value": _show(value)}
        for key, value in detail.items()
        if key not in ("diff", "token") and not (diff and key in ("source",))
    ]
    return {
        "seq": entry.seq,
        "when": wib_time(entry.at),
        "at": entry.at,
        "actor": entry.actor,
        "actor_name": names.get(f"user:{entry.actor}"),
        "action": entry.action,
        "target": entry.target,
        "target_name": names.get(entry.target),
        "changes": changes,
        "details": others,
    }


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"
