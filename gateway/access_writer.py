"""Writes the gateway's access records (``gateway.access_recorder``) to ``gateway_accesses`` in the background.

Every ``interval`` seconds the waiting records go to the database in one transaction (one multi-row
insert; each row names the claims the assertion carried, space-separated like a scope); ``stop`` writes what
is left, so a clean shutdown loses nothing. A batch that fails to write is put back for the next flush
(within the recorder's cap). Rows older than the retention are pruned hourly, by every
instance (deleting the same old rows twice is harmless).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.access_recorder import AccessRecorder
from idp.clock import Clock
from idp.periodic import Periodic
from idp.storage.db import rows_affected
from idp.storage.gateway_models import GatewayAccess

log = logging.getLogger("gerbang.access_history")

DAY = 86_400
PRUNE_EVERY = 3600.0


class AccessWriter:
    def __init__(
        self,
        recorder: AccessRecorder,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        interval: float,
        retention_days: int,
        prune_every: float = PRUNE_EVERY,
    ) -> None:
        self._recorder = recorder
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._interval = interval
        self._retention = retention_days * DAY
        self._prune_every = prune_every
        self._since_prune = prune_every  # prune once soon after start, then every ``prune_every``
        self.loop = Periodic("access-writer", self._tick, interval, on_failure="pruning again at the next round")

    async def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        """Stop the loop, then write what is still waiting (the app's shutdown, before the engine closes)."""
        await self.loop.stop()
        await self.flush()

    async def flush(self) -> int:
        """Write every waiting record; returns how many were written (0 when the write failed)."""
        records = self._recorder.take()
        if not records:
            return 0
        try:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(
                    insert(GatewayAccess),
                    [
                        {"user_id": r.user_id, "app": r.app, "opd": r.opd, "at": r.at, "claims": " ".join(r.claims)}
                        for r in records
                    ],
                )
        except Exception:  # the database is away: keep the batch for the next try (the recorder bounds it)
            log.warning(
                "access history: could not write %d record(s); kept for the next flush", len(records), exc_info=True
            )
            self._recorder.restore(records)
            return 0
        return len(records)

    async def prune(self) -> int:
        """Delete rows older than the retention; returns how many went."""
        cutoff = self._clock.now() - self._retention
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(delete(GatewayAccess).where(GatewayAccess.at < cutoff))
        return rows_affected(result) or 0

    async def _tick(self) -> None:
        """One round: write the waiting records (a failed write keeps them), prune when it is due."""
        await self.flush()
        self._since_prune += self._interval
        if self._since_prune >= self._prune_every:
            self._since_prune = 0.0
            pruned = await self.prune()
            if pruned:
                log.info("access history: pruned %d row(s) older than the retention", pruned)
