"""The OPD tree: kota → dinas/badan/sekretariat → kecamatan → kelurahan (and units like puskesmas)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.errors import Conflict, InvalidInput, NotFound
from idp.storage.models import OpdUnit

KINDS = ("kota", "dinas", "badan", "sekretariat", "kecamatan", "kelurahan", "uptd", "puskesmas", "bagian")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


async def add_opd(session: AsyncSession, slug: str, name: str, kind: str, parent_slug: str | None, now: int) -> OpdUnit:
    if not SLUG.match(slug):
        raise InvalidInput("slug must be lowercase letters, digits and dashes (max 63)")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(KINDS)}")
    if not name.strip():
        raise InvalidInput("name is required")
    if await session.scalar(select(OpdUnit.id).where(OpdUnit.slug == slug)) is not None:
        raise Conflict(f"OPD '{slug}' already exists")
    parent = None
    if parent_slug:
        parent = await load_opd(session, parent_slug)
    path = f"{parent.path if parent else '/'}{slug}/"
    unit = OpdUnit(
        slug=slug, name=name.strip(), kind=kind, parent_id=parent.id if parent else None, path=path, created_at=now
    )
    session.add(unit)
    await session.flush()
    return unit


async def load_opd(session: AsyncSession, slug: str) -> OpdUnit:
    unit = await session.scalar(select(OpdUnit).where(OpdUnit.slug == slug))
    if unit is None:
        raise NotFound(f"OPD '{slug}' does not exist")
    return unit


async def load_opd_name(session: AsyncSession, slug: str) -> str | None:
    return await session.scalar(select(OpdUnit.name).where(OpdUnit.slug == slug))


async def load_opd_name_by_id(session: AsyncSession, opd_id: int | None) -> str | None:
    """The name of the unit a client or app sits in (``opd_id``); None for none."""
    if opd_id is None:
        return None
    unit = await session.get(OpdUnit, opd_id)
    return unit.name if unit else None


async def load_opd_slug(session: AsyncSession, opd_id: int) -> str | None:
    return await session.scalar(select(OpdUnit.slug).where(OpdUnit.id == opd_id))


async def list_opd(session: AsyncSession, under: str | None = None) -> list[OpdUnit]:
    query = select(OpdUnit).order_by(OpdUnit.path)
    if under:
        root = await load_opd(session, under)
        query = query.where(OpdUnit.path.startswith(root.path, autoescape=True))
    return list((await session.scalars(query)).all())
