"""The traffic tables (``traffic_minutes``, ``traffic_latency``): additive upserts, pruning, and the flusher.

Every worker of every instance drains its own ``TrafficRecorder`` every ``traffic_flush_seconds`` and *adds*
its counts to the rows keyed by (minute, app) — ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``
on SQLite and PostgreSQL alike — so the database holds the city's sums whatever the number of processes.
Rows are written in key order, so concurrent flushes take row locks in the same order (no deadlock).
Rows older than 48 hours are deleted; the last counts are flushed on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal, cast

from sqlalchemy import Select, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.traffic import KEEP_MINUTES, LAST_BUCKET, MinuteRow, TrafficRecorder
from idp.clock import Clock
from idp.periodic import Periodic
from idp.storage.db import rows_affected
from idp.storage.gateway_models import App, TrafficLatency, TrafficMinute
from idp.storage.models import OpdUnit

log = logging.getLogger("gerbang.gateway")

COUNTS = ("requests", "client_errors", "server_errors", "throttled")
TOTAL = "*"  # the row that sums every app of a minute (never an app slug)
PRUNE_EVERY_SECONDS = 600


async def add_traffic(session: AsyncSession, rows: Sequence[MinuteRow]) -> None:
    """Add ``rows``, and their sum per minute as app ``TOTAL``, to the stored sums (in the caller's transaction)."""
    if not rows:
        return
    ordered = sorted([*rows, *build_rollup(rows)], key=lambda row: (row.minute, row.app))
    minutes = [{"minute": r.minute, "app": r.app, **{name: getattr(r, name) for name in COUNTS}} for r in ordered]
    latency = [
        {"minute": r.minute, "app": r.app, "bucket": index, "count": count}
        for r in ordered
        for index, count in enumerate(r.buckets)
        if count
    ]
    await session.execute(
        _add_statement(session, cast(Table, TrafficMinute.__table__), ("minute", "app"), COUNTS), minutes
    )
    if latency:
        await session.execute(
            _add_statement(session, cast(Table, TrafficLatency.__table__), ("minute", "app", "bucket"), ("count",)),
            latency,
        )


def build_rollup(rows: Sequence[MinuteRow]) -> list[MinuteRow]:
    """One ``TOTAL`` row per minute: the city-wide series is then read from 60 rows, not from every app's."""
    sums: dict[int, list[int]] = {}
    for row in rows:
        if row.app == TOTAL:
            continue
        into = sums.setdefault(row.minute, [0] * (len(COUNTS) + LAST_BUCKET + 1))
        for index, value in enumerate(
            (row.requests, row.client_errors, row.server_errors, row.throttled, *row.buckets)
        ):
            into[index] += value
    return [
        MinuteRow(minute, TOTAL, values[0], values[1], values[2], values[3], tuple(values[4:]))
        for minute, values in sums.items()
    ]


def _add_statement(session: AsyncSession, table: Table, keys: tuple[str, ...], counts: tuple[str, ...]) -> Any:
    # The upsert is dialect-specific; only the dialect in use is imported (the other one costs a worker memory).
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in counts}
    )


async def prune_traffic(session: AsyncSession, before_minute: int) -> int:
    """Delete every minute before ``before_minute``; returns how many (minute, app) rows went."""
    await session.execute(delete(TrafficLatency).where(TrafficLatency.minute < before_minute))
    result = await session.execute(delete(TrafficMinute).where(TrafficMinute.minute < before_minute))
    return rows_affected(result)


Counts = list[int]  # [requests, 4xx, 5xx, 429]
Histogram = dict[int, int]  # latency bucket -> count (non-empty buckets only)
Grouping = Literal["all", "app", "opd"]


async def sum_counts(
    session: AsyncSession,
    first_minute: int,
    last_minute: int,
    *,
    by: Grouping,
    per_minute: bool,
    apps: Sequence[str] | None = None,
    opds: Sequence[str] | None = None,
) -> dict[tuple[Any, ...], Counts]:
    """Counts summed in SQL over ``first_minute``..``last_minute``, keyed by (app or OPD slug)[, minute].

    ``by="opd"`` sums the apps each OPD unit owns (the ``apps`` table says which); ``apps``/``opds`` narrow
    the rows. The key is ``()`` or ``(minute,)`` for ``by="all"``, read from the ``TOTAL`` rollup when
    nothing narrows it.
    """
    table = cast(Table, TrafficMinute.__table__)
    query = _grouped(table, by, per_minute, (), first_minute, last_minute, apps, opds)
    query = query.add_columns(*(func.sum(table.c[name]) for name in COUNTS))
    width = (by != "all") + per_minute
    return {tuple(row[:width]): [int(v or 0) for v in row[width:]] for row in (await session.execute(query)).all()}


async def sum_histograms(
    session: AsyncSession,
    first_minute: int,
    last_minute: int,
    *,
    by: Grouping,
    per_minute: bool,
    apps: Sequence[str] | None = None,
    opds: Sequence[str] | None = None,
) -> dict[tuple[Any, ...], Histogram]:
    """Latency histograms merged in SQL, keyed as ``sum_counts``."""
    table = cast(Table, TrafficLatency.__table__)
    query = _grouped(table, by, per_minute, (table.c.bucket,), first_minute, last_minute, apps, opds)
    query = query.add_columns(func.sum(table.c["count"]))
    width = (by != "all") + per_minute
    found: dict[tuple[Any, ...], Histogram] = {}
    for row in (await session.execute(query)).all():
        bucket, count = int(row[width]), int(row[width + 1] or 0)
        if 0 <= bucket <= LAST_BUCKET and count:
            found.setdefault(tuple(row[:width]), {})[bucket] = count
    return found


def _grouped(
    table: Table,
    by: Grouping,
    per_minute: bool,
    extra: tuple[Any, ...],
    first_minute: int,
    last_minute: int,
    apps: Sequence[str] | None,
    opds: Sequence[str] | None,
) -> Select[Any]:
    keys: list[Any] = []
    source: Any = table
    if by == "all" and apps is None and opds is None:
        apps = [TOTAL]  # the rollup written with every flush
    if by == "app":
        keys.append(table.c.app)
    elif by == "opd":
        keys.append(OpdUnit.slug)
        source = table.join(App, App.slug == table.c.app).join(OpdUnit, App.opd_id == OpdUnit.id)
    if per_minute:
        keys.append(table.c.minute)
    keys.extend(extra)
    query = select(*keys).select_from(source).where(table.c.minute >= first_minute, table.c.minute <= last_minute)
    if apps is not None:
        query = query.where(table.c.app.in_(list(apps)))
    elif by == "app":
        query = query.where(table.c.app != TOTAL)
    if opds is not None:
        query = query.where(OpdUnit.slug.in_(list(opds)))
    return query.group_by(*keys) if keys else query


class TrafficFlusher:
    """The background task that delivers one process's recorder to the database."""

    def __init__(
        self, recorder: TrafficRecorder, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, interval: float
    ) -> None:
        self.recorder, self.sessionmaker, self.clock, self.interval = recorder, sessionmaker, clock, interval
        self.loop = Periodic("traffic-flush", self._tick, interval, on_failure="pruning again at the next round")
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
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        await self.flush()  # the last seconds of counts

    async def _tick(self) -> None:
        """One round: store the counts (a failed write keeps them), prune when it is due."""
        await self.flush()
        if self.clock.now() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            await self.prune()
