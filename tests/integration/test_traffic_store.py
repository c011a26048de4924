"""The traffic tables on both backends: additive upserts from many processes at once, pruning after 48 hours,
and a failed delivery that loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from gateway.traffic import KEEP_MINUTES, LAST_BUCKET, MinuteRow, TrafficRecorder, bucket_of
from gateway.traffic_store import TrafficFlusher, add_traffic, prune_traffic, sum_counts, sum_histograms
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import TrafficLatency, TrafficMinute

NOW = 1_800_000_000  # minute 30,000,000


def recorder_with(requests: dict[str, list[tuple[int, float]]], at: float = NOW + 5) -> TrafficRecorder:
    recorder = TrafficRecorder(lambda: at)
    for app, answers in requests.items():
        for status, seconds in answers:
            recorder.record(app, status, seconds)
    return recorder


def test_concurrent_flushes_of_many_workers_add_up(database_url: str) -> None:
    workers = 6

    async def run() -> None:
        engines = [build_engine(database_url) for _ in range(workers)]
        try:

            async def worker(index: int) -> None:
                sessionmaker = build_sessionmaker(engines[index])
                for _ in range(5):  # several flushes of the same minute and apps, in an order of its own
                    recorder = recorder_with(
                        {"parkir": [(200, 0.01), (429, 0.002), (503, 1.5)], "pajak": [(200, 0.2)] * (index + 1)}
                    )
                    async with sessionmaker() as session, session.begin():
                        await add_traffic(session, list(reversed(recorder.drain())))

            await asyncio.gather(*(worker(i) for i in range(workers)))
            async with build_sessionmaker(engines[0])() as session:
                counts = await sum_counts(session, NOW // 60, NOW // 60, by="app", per_minute=True)
                histograms = await sum_histograms(session, NOW // 60, NOW // 60, by="app", per_minute=False)
                everything = await sum_counts(session, NOW // 60, NOW // 60, by="all", per_minute=False)
        finally:
            for engine in engines:
                await engine.dispose()
        pajak_requests = 5 * sum(range(1, workers + 1))
        assert counts[("parkir", NOW // 60)] == [workers * 5 * 3, workers * 5, workers * 5, workers * 5]
        assert counts[("pajak", NOW // 60)] == [pajak_requests, 0, 0, 0]
        assert everything == {(): [workers * 5 * 3 + pajak_requests, workers * 5, workers * 5, workers * 5]}
        parkir = histograms[("parkir",)]
        assert parkir[bucket_of(0.01)] == parkir[bucket_of(1.5)] == workers * 5
        assert histograms[("pajak",)] == {bucket_of(0.2): pajak_requests}

    asyncio.run(run())


def test_prune_keeps_48_hours(database_url: str) -> None:
    async def run() -> None:
        engine = build_engine(database_url)
        sessionmaker = build_sessionmaker(engine)
        minute = NOW // 60
        buckets = (1,) + (0,) * LAST_BUCKET
        rows = [
            MinuteRow(m, "parkir", 1, 0, 0, 0, buckets)
            for m in (minute - KEEP_MINUTES - 30, minute - KEEP_MINUTES - 1, minute - KEEP_MINUTES, minute)
        ]
        async with sessionmaker() as session, session.begin():
            await add_traffic(session, rows)
        flusher = TrafficFlusher(TrafficRecorder(), sessionmaker, FrozenClock(NOW), interval=60)
        assert await flusher.prune() == 4  # two minutes of parkir, and of the city-wide rollup
        async with sessionmaker() as session:
            kept = (
                await session.scalars(
                    select(TrafficMinute.minute).where(TrafficMinute.app == "parkir").order_by(TrafficMinute.minute)
                )
            ).all()
            latency = (
                await session.scalars(
                    select(TrafficLatency.minute).where(TrafficLatency.app == "parkir").order_by(TrafficLatency.minute)
                )
            ).all()
            assert await prune_traffic(session, minute - KEEP_MINUTES) == 0
        await engine.dispose()
        assert list(kept) == list(latency) == [minute - KEEP_MINUTES, minute]

    asyncio.run(run())


def test_a_failed_flush_keeps_the_counts_for_the_next_one(database_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        recorder = recorder_with({"parkir": [(200, 0.01)] * 3})
        broken = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.db'}")  # no schema: every write fails
        failing = TrafficFlusher(recorder, build_sessionmaker(broken), FrozenClock(NOW), interval=60)
        assert await failing.flush() == 0
        await broken.dispose()
        recorder.record("parkir", 500, 0.01)
        engine = build_engine(database_url)
        sessionmaker = build_sessionmaker(engine)
        flusher = TrafficFlusher(recorder, sessionmaker, FrozenClock(NOW), interval=60)
        await flusher.start()
        recorder.record("parkir", 200, 0.01)
        await flusher.stop()  # the last counts are written on the way out
        async with sessionmaker() as session:
            parkir = TrafficMinute.app == "parkir"
            stored = await session.scalar(select(func.sum(TrafficMinute.requests)).where(parkir))
            errors = await session.scalar(select(func.sum(TrafficMinute.server_errors)).where(parkir))
        await engine.dispose()
        assert (stored, errors) == (5, 1)

    asyncio.run(run())
