"""The OPD tree as the console shows it: one unit at a time with its children (paginated) and their counts.

A city has ~500 units: a page lists one unit's direct children with how many sub-units, apps and users each
has, and the trail of ancestors above it, instead of drawing the whole tree. Every query is narrowed to
what the actor may see (``scope_clauses.build_scope_clause``); opening a unit outside one's subtree is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import Actor, check_sees
from gateway.admin.http import Page
from gateway.admin.listings import like_pattern
from gateway.admin.scope_clauses import build_scope_clause
from idp.org import load_opd
from idp.storage.gateway_models import App
from idp.storage.models import Membership, OpdUnit


async def load_tree_level(
    session: AsyncSession, actor: Actor, page: Page, *, under: str | None, q: str | None
) -> dict[str, Any]:
    """``{"unit", "ancestors", "units"}``: ``units`` holds up to ``limit + 1`` rows (the extra one: a next page).

    No ``under``: the top of what the actor sees (the city's roots for Kominfo, one's own units otherwise).
    With ``q``: matching units anywhere in the actor's scope, flat (``under`` is then ignored).
    """
    unit: OpdUnit | None = None
    query = select(OpdUnit).where(build_scope_clause(actor, OpdUnit.path)).order_by(OpdUnit.path)
    if q is not None:
        query = query.where(
            or_(OpdUnit.slug.like(like_pattern(q), escape="\\"), OpdUnit.name.ilike(like_pattern(q), escape="\\"))
        )
    elif under is not None:
        unit = await load_opd(session, under)
        check_sees(actor, unit.path)
        query = query.where(OpdUnit.parent_id == unit.id)
    elif actor.kominfo:
        query = query.where(OpdUnit.parent_id.is_(None))
    else:
        query = query.where(OpdUnit.path.in_(_topmost(actor.visible_roots())))
    units = list((await session.scalars(query.offset(page.offset).limit(page.limit + 1))).all())
    counts = await _count(session, units)
    return {
        "unit": None if unit is None else await _describe(session, actor, unit),
        "ancestors": [] if unit is None else await _ancestors(session, actor, unit),
        "units": [{**_row(u), **counts.get(u.id, {})} for u in units],
    }


def _topmost(paths: tuple[str, ...]) -> list[str]:
    """Drop paths that lie under another one in the list (an admin of dinkes and of one puskesmas)."""
    return [p for p in paths if not any(p != other and p.startswith(other) for other in paths)]


def _row(unit: OpdUnit) -> dict[str, Any]:
    return {"id": unit.id, "slug": unit.slug, "name": unit.name, "kind": unit.kind, "path": unit.path}


async def _describe(session: AsyncSession, actor: Actor, unit: OpdUnit) -> dict[str, Any]:
    counts = await _count(session, [unit])
    return {**_row(unit), **counts.get(unit.id, {})}


async def _ancestors(session: AsyncSession, actor: Actor, unit: OpdUnit) -> list[dict[str, Any]]:
    """The units above ``unit`` (root first); ``visible`` says whether the actor may open each one."""
    slugs = [slug for slug in unit.path.strip("/").split("/")[:-1] if slug]
    if not slugs:
        return []
    rows = {u.slug: u for u in (await session.scalars(select(OpdUnit).where(OpdUnit.slug.in_(slugs)))).all()}
    return [
        {
            "slug": slug,
            "name": rows[slug].name if slug in rows else slug,
            "visible": slug in rows and actor.can_see(rows[slug].path),
        }
        for slug in slugs
    ]


async def _count(session: AsyncSession, units: list[OpdUnit]) -> dict[int, dict[str, int]]:
    """Per listed unit: direct children, units below it, its own apps, apps in its branch, its own users.

    One indexed prefix query fetches every unit under the listed units' common root (a city has hundreds),
    one more the app counts per unit there; each is then credited to the listed units above it in Python,
    which is cheaper than a self-join on ``LIKE path || '%'`` that no index serves.
    """
    if not units:
        return {}
    counts = {u.id: {"children": 0, "subtree": 0, "apps": 0, "branch_apps": 0, "users": 0} for u in units}
    listed = {u.path: u.id for u in units}
    root = _common_root([u.path for u in units])
    under_root = OpdUnit.path.startswith(root, autoescape=True)
    below = (await session.execute(select(OpdUnit.id, OpdUnit.path, OpdUnit.parent_id).where(under_root))).all()
    apps = dict(
        (
            await session.execute(
                select(App.opd_id, func.count())
                .join(OpdUnit, App.opd_id == OpdUnit.id)
                .where(under_root)
                .group_by(App.opd_id)
            )
        ).all()
    )
    for unit_id, path, parent_id in below:
        for owner in _listed_ancestors_or_self(path, listed):
            count = counts[owner]
            count["branch_apps"] += apps.get(unit_id, 0)
            if owner == unit_id:
                count["apps"] = apps.get(unit_id, 0)
            else:
                count["subtree"] += 1
                count["children"] += parent_id == owner
    users = await session.execute(
        select(Membership.opd_id, func.count(func.distinct(Membership.user_id)))
        .where(Membership.opd_id.in_(list(counts)))
        .group_by(Membership.opd_id)
    )
    for unit_id, value in users.all():
        counts[unit_id]["users"] = int(value)
    return counts


def _common_root(paths: list[str]) -> str:
    """The deepest path every one of ``paths`` lies under (``/`` when they share nothing)."""
    split = [path.strip("/").split("/") for path in paths]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/" + "".join(f"{part}/" for part in common)


def _listed_ancestors_or_self(path: str, listed: dict[str, int]) -> list[int]:
    segments = path.strip("/").split("/")
    prefixes = ("/" + "".join(f"{part}/" for part in segments[:depth]) for depth in range(1, len(segments) + 1))
    return [listed[prefix] for prefix in prefixes if prefix in listed]
