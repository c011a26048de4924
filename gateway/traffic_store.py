"""The traffic tables (``traffic_minutes``, ``traffic_latency``): additive upserts, pruning, and the flusher.

Every worker of every instance drains its own ``TrafficRecorder`` every ``traffic_flush_seconds`` and *adds*
its counts to the rows keyed by (minute, app) — ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``
on SQLite and PostgreSQL alike — so the database holds the city's sums whatever the number of processes.
Rows are written in key order, so concurrent flushes take row locks in the same order (no deadlock).
Rows older than 48 hours are deleted; the last counts are flushed on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.traffic import KEEP_MINUTES, LAST_BUCKET, MinuteRow, TrafficRecorder
from idp.clock import Clock
from idp.storage.models import TrafficLatency, TrafficMinute

log = logging.getLogger("gerbang.gateway")

COUNTS = ("requests", "client_errors", "server_errors", "throttled")
PRUNE_EVERY_SECONDS = 600


async def add_traffic(session: AsyncSession, rows: Sequence[MinuteRow]) -> None:
    """Add ``rows`` to the stored sums (in the caller's transaction)."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: (row.minute, row.app))
    minutes = [{"minute": r.minute, "app": r.app, **{name: getattr(r, name) for name in COUNTS}} for r in ordered]
    latency = [{"minute": r.minute, "app": r.app, "bucket": index, "count": count}
               for r in ordered for index, count in enumerate(r.buckets) if count]
    await session.execute(_add_statement(session, TrafficMinute.__table__, ("minute", "app"), COUNTS), minutes)
    if latency:
        await session.execute(_add_statement(session, TrafficLatency.__table__, ("minute", "app", "bucket"),
                                             ("count",)), latency)


def _add_statement(session: AsyncSession, table: Table, keys: tuple[str, ...], counts: tuple[str, ...]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in counts})


async def prune_traffic(session: AsyncSession, before_minute: int) -> int:
    """Delete every minute before ``before_minute``; returns how many (minute, app) rows went."""
    await session.execute(delete(TrafficLatency).where(TrafficLatency.minute < before_minute))
    result = await session.execute(delete(TrafficMinute).where(TrafficMinute.minute < before_minute))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AppTraffic:
    """One app's sums over a span of minutes: per-minute counts and the merged latency histogram."""

    app: str
    minutes: dict[int, tuple[int, int, int, int]]  # minute -> (requests, 4xx, 5xx, 429)
    minute_buckets: dict[int, dict[int, int]]  # minute -> {latency bucket: count} (non-empty buckets only)
    buckets: list[int]  # over the whole span


async def load_traffic(session: AsyncSession, first_minute: int, last_minute: int,
                       apps: Sequence[str] | None) -> dict[str, AppTraffic]:
    """The stored sums of ``apps`` (every app when None) for ``first_minute``..``last_minute`` inclusive."""
    span = and_(TrafficMinute.minute >= first_minute, TrafficMinute.minute <= last_minute)
    query = select(TrafficMinute.app, TrafficMinute.minute, *(TrafficMinute.__table__.c[n] for n in COUNTS)).where(span)
    latency_span = and_(TrafficLatency.minute >= first_minute, TrafficLatency.minute <= last_minute)
    latency = select(TrafficLatency.app, TrafficLatency.minute, TrafficLatency.bucket,
                     func.sum(TrafficLatency.count)).where(latency_span)
    if apps is not None:
        query = query.where(TrafficMinute.app.in_(list(apps)))
        latency = latency.where(TrafficLatency.app.in_(list(apps)))
    found: dict[str, AppTraffic] = {}
    for app, minute, *counts in (await session.execute(query)).all():
        entry = found.setdefault(app, AppTraffic(app, {}, {}, [0] * (LAST_BUCKET + 1)))
        entry.minutes[int(minute)] = tuple(int(c) for c in counts)  # type: ignore[assignment]
    rows = await session.execute(latency.group_by(TrafficLatency.app, TrafficLatency.minute, TrafficLatency.bucket))
    for app, minute, bucket, count in rows.all():
        entry = found.get(app)
        if entry is not None and 0 <= bucket <= LAST_BUCKET:
            per_minute = entry.minute_buckets.setdefault(int(minute), {})
            per_minute[bucket] = per_minute.get(bucket, 0) + int(count)
            entry.buckets[bucket] += int(count)
    return found


class TrafficFlusher:
    """The background task that delivers one process's recorder to the database."""

    def __init__(self, recorder: TrafficRecorder, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                 interval: float) -> None:
        self.recorder, self.sessionmaker, self.clock, self.interval = recorder, sessionmaker, clock, interval
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0

    async def flush(self) -> int:
        """Store what the recorder holds; on failure put it back for the next try. Returns the rows stored."""
        rows = self.recorder.drain()
        if not rows:
            return 0
        try:
            async with self.sessionmaker() as session, session.begin():
                await add_traffic(session, rows)
        except BaseException as exc:  # cancelled mid-write too: nothing is lost, the next flush retries
            self.recorder.restore(rows)
            if not isinstance(exc, Exception):
                raise
            log.warning("traffic flush failed, kept %d rows for the next try: %r", len(rows), exc)
            return 0
        return len(rows)

    async def prune(self) -> int:
        now = self.clock.now()
        async with self.sessionmaker() as session, session.begin():
            removed = await prune_traffic(session, now // 60 - KEEP_MINUTES)
        self._pruned_at = now
        return removed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()  # the last seconds of counts

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()
            if self.clock.now() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                try:
                    await self.prune()
                except Exception as exc:  # the database is down: the next round tries again
                    log.warning("traffic prune failed: %r", exc)
