"""Revoked access tokens, as every gateway instance sees them: the denylist polled into memory.

Revocation is rare and the denylist only holds tokens until they would expire, so each instance
keeps the whole set and refreshes it every few seconds; checking a token is a set lookup.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.periodic import Periodic
from idp.storage.models import RevokedToken

log = logging.getLogger("gerbang.gateway")


class RevokedTokens:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, refresh_seconds: float) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._jtis: frozenset[str] = frozenset()
        self.loop = Periodic("revocations", self.load, refresh_seconds, on_failure="keeping the last known list")

    async def is_revoked(self, jti: str) -> bool:
        return jti in self._jtis

    async def load(self) -> None:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(RevokedToken.jti).where(RevokedToken.expires_at > self._clock.now()))
            self._jtis = frozenset(rows.all())

    async def start(self) -> None:
        with contextlib.suppress(SQLAlchemyError, OSError):
            await self.load()
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
