"""Renaming, moving and removing OPD units (``gerbang opd update|move|remove``, the admin API, ``gerbang apply``).

A move rewrites the materialised path of the unit and of its whole subtree in one statement per unit, in the
caller's transaction; the policy engine and the console read paths, so they follow at their next load. A unit
is removed only when nothing belongs to it any more: no sub-unit, member, app, client or initial access token.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import count_apps_of_opd
from idp.audit import append_audit
from idp.change_diff import build_diff
from idp.errors import Conflict, InvalidInput
from idp.org import KINDS, load_opd
from idp.storage.models import Client, InitialAccessToken, Membership, OpdUnit


def opd_view(unit: OpdUnit, parent: str | None) -> dict[str, Any]:
    return {"name": unit.name, "kind": unit.kind, "parent": parent}


async def parent_slug(session: AsyncSession, unit: OpdUnit) -> str | None:
    if unit.parent_id is None:
        return None
    return await session.scalar(select(OpdUnit.slug).where(OpdUnit.id == unit.parent_id))


async def update_opd(
    session: AsyncSession, slug: str, *, name: str | None = None, kind: str | None = None, actor: str, now: int
) -> tuple[OpdUnit, dict[str, Any]]:
    unit = await load_opd(session, slug)
    parent = await parent_slug(session, unit)
    before = opd_view(unit, parent)
    if name is not None:
        if not name.strip():
            raise InvalidInput("name is required")
        unit.name = name.strip()
    if kind is not None:
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of: {', '.join(KINDS)}")
        unit.kind = kind
    diff = build_diff(before, opd_view(unit, parent))
    if diff:
        await session.flush()
        await append_audit(
            session, actor=actor, action="opd.update", target=f"opd:{slug}", detail={"diff": diff}, now=now
        )
    return unit, diff


async def move_opd(
    session: AsyncSession, slug: str, new_parent: str | None, *, actor: str, now: int
) -> tuple[OpdUnit, dict[str, Any]]:
    """Hang the unit (and its subtree) under ``new_parent`` (None: a root); never under itself or its own subtree."""
    unit = await load_opd(session, slug)
    old_parent = await parent_slug(session, unit)
    if new_parent == old_parent:
        return unit, {}
    parent = await load_opd(session, new_parent) if new_parent else None
    if parent is not None and parent.path.startswith(unit.path):
        raise InvalidInput(f"'{slug}' cannot move under '{new_parent}': that unit is inside it")
    old_path = unit.path
    new_path = f"{parent.path if parent else '/'}{slug}/"
    subtree = (await session.scalars(select(OpdUnit).where(OpdUnit.path.startswith(old_path, autoescape=True)))).all()
    for member in subtree:
        member.path = new_path + member.path[len(old_path) :]
    unit.parent_id = parent.id if parent else None
    await session.flush()
    diff = {"parent": {"from": old_parent, "to": new_parent}, "path": {"from": old_path, "to": new_path}}
    await append_audit(
        session,
        actor=actor,
        action="opd.move",
        target=f"opd:{slug}",
        detail={"diff": diff, "units_moved": len(subtree)},
        now=now,
    )
    return unit, diff


async def remove_opd(session: AsyncSession, slug: str, *, actor: str, now: int) -> dict[str, Any]:
    unit = await load_opd(session, slug)
    holders = await count_holders(session, unit)
    if any(holders.values()):
        listed = ", ".join(f"{count} {what}" for what, count in holders.items() if count)
        raise Conflict(f"OPD '{slug}' still has {listed}: move or remove them first")
    before = opd_view(unit, await parent_slug(session, unit))
    await session.delete(unit)
    await session.flush()
    await append_audit(
        session,
        actor=actor,
        action="opd.remove",
        target=f"opd:{slug}",
        detail={"diff": build_diff(before, {})},
        now=now,
    )
    return before


async def count_holders(session: AsyncSession, unit: OpdUnit) -> dict[str, int]:
    """What still belongs to ``unit``: its sub-units, members, apps, clients and open initial access tokens."""

    async def count(model: Any, column: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(column == unit.id)) or 0)

    return {
        "sub-units": await count(OpdUnit, OpdUnit.parent_id),
        "members": await count(Membership, Membership.opd_id),
        "apps": await count_apps_of_opd(session, unit.id),
        "clients": await count(Client, Client.opd_id),
        "initial access tokens": await count(InitialAccessToken, InitialAccessToken.opd_id),
    }
