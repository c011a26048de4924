"""Revoked access tokens, as every gateway instance sees them: the denylist polled into memory.

Revocation is rare and the denylist only holds tokens until they would expire, so each instance
keeps the whole set and refreshes it every few seconds; checking a token is a set lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.storage.models import RevokedToken

log = logging.getLogger("gerbang.gateway")


class RevokedTokens:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, refresh_seconds: float) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._jtis: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._jtis

    async def load(self) -> None:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(RevokedToken.jti).where(RevokedToken.expires_at > self._clock.now()))
            self._jtis = frozenset(rows.all())

    async def start(self) -> None:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self.load()
        self._task = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.load()
            except (SQLAlchemyError, OSError) as exc:  # keep the last known list while storage is down
                log.warning("revocation list refresh failed: %s", exc)
