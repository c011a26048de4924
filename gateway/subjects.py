"""Who a token's ``sub`` is inside the city: OPD, OPD paths and roles, from ``Membership`` rows.

Access tokens do not carry roles (they change more often than tokens live and would bloat every token), so
the gateway looks them up: an in-memory cache with a TTL in front of the database. A fresh entry is a dict
hit; a stale one is served once more while a background task reloads it (so a role change or a disabled
account takes effect within ``ttl`` seconds); only a never-seen subject waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.errors import Unavailable
from idp.storage.models import Membership, OpdUnit, User

log = logging.getLogger("gerbang.subjects")


@dataclass(frozen=True, slots=True)
class Subject:
    """A user as the gateway's policies see them."""

    user_id: str
    opd: str | None  # the primary OPD (the first membership)
    opd_paths: tuple[str, ...]
    roles: tuple[str, ...]
    disabled: bool = False
    name: str | None = None  # what an app configured for them receives (gateway.claims)
    email: str | None = None
    nik: str | None = None
    nip: str | None = None


class SubjectLoader(Protocol):
    async def load(self, sub: str) -> Subject | None:
        """The user ``sub``, or None when there is no such user."""


class SubjectDirectory:
    """``SubjectLoader`` backed by the database with a bounded TTL cache."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, *, ttl: int = 60, size: int = 50_000
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._cache: OrderedDict[str, tuple[int, Subject | None]] = OrderedDict()
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def load(self, sub: str) -> Subject | None:
        entry = self._cache.get(sub)
        if entry is None:
            subject = await load_subject(self._sessionmaker, sub)
            self._store(sub, subject)
            return subject
        loaded_at, subject = entry
        self._cache.move_to_end(sub)
        if self._clock.now() - loaded_at >= self._ttl and sub not in self._refreshing:
            self._refreshing[sub] = asyncio.create_task(self._reload(sub))
        return subject

    def forget(self, sub: str) -> None:
        """Drop a cached subject now (e.g. after an admin disabled the account in this process)."""
        self._cache.pop(sub, None)

    async def _reload(self, sub: str) -> None:
        try:
            self._store(sub, await load_subject(self._sessionmaker, sub))
        except Exception:  # serve the stale entry; the next request tries again
            log.exception("reloading subject %s failed", sub)
        finally:
            self._refreshing.pop(sub, None)

    def _store(self, sub: str, subject: Subject | None) -> None:
        self._cache[sub] = (self._clock.now(), subject)
        self._cache.move_to_end(sub)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)


async def load_subject(sessionmaker: async_sessionmaker[AsyncSession], sub: str) -> Subject | None:
    try:
        return await _query_subject(sessionmaker, sub)
    except (SQLAlchemyError, OSError) as exc:
        raise Unavailable("the city directory is unavailable", detail=f"loading subject {sub}: {exc}") from exc


async def _query_subject(sessionmaker: async_sessionmaker[AsyncSession], sub: str) -> Subject | None:
    async with sessionmaker() as session:
        found = (
            await session.execute(
                select(User.disabled, User.name, User.email, User.nik, User.nip).where(User.id == sub)
            )
        ).first()
        if found is None:
            return None
        disabled = found[0]
        rows = (
            await session.execute(
                select(Membership.role, OpdUnit.slug, OpdUnit.path)
                .join(OpdUnit, Membership.opd_id == OpdUnit.id)
                .where(Membership.user_id == sub)
                .order_by(Membership.id)
            )
        ).all()
    return Subject(
        user_id=sub,
        opd=rows[0][1] if rows else None,
        opd_paths=tuple(dict.fromkeys(path for _, _, path in rows)),
        roles=tuple(dict.fromkeys(role for role, _, _ in rows)),
        disabled=bool(disabled),
        name=found[1],
        email=found[2],
        nik=found[3],
        nip=found[4],
    )
