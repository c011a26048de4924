"""Benchmark: the console's traffic view at city scale (500 OPD units, 2,000 apps, every app busy every minute).

    python loadtests/traffic_view.py URL [--apps-busy 2000]   # URL: an empty, migrated database

Seeds the directory and an hour of traffic (one ``traffic_minutes`` row per app and minute, four latency
buckets each), then times ``load_traffic_view`` and the page render as Kominfo (everything), filtered to one
OPD, and as an OPD admin (median of 10 runs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import insert

from gateway.admin import traffic_charts
from gateway.admin.actor import Actor
from gateway.admin.console import TEMPLATES
from gateway.admin.traffic_view import WINDOWS, load_traffic_view
from gateway.traffic import LAST_BUCKET, MinuteRow, bucket_of
from gateway.traffic_store import add_traffic
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.models import OpdUnit

UNITS, APPS = 500, 2000


async def seed(url: str, busy: int, now: int) -> None:
    engine = build_engine(url)
    maker = build_sessionmaker(engine)
    async with maker() as session, session.begin():
        await session.execute(
            insert(OpdUnit),
            [
                {
                    "id": 1,
                    "slug": "kota",
                    "name": "Kota",
                    "kind": "kota",
                    "parent_id": None,
                    "path": "/kota/",
                    "created_at": now,
                }
            ],
        )
        await session.execute(
            insert(OpdUnit),
            [
                {
                    "id": i + 2,
                    "slug": f"opd-{i}",
                    "name": f"OPD {i}",
                    "kind": "dinas",
                    "parent_id": 1,
                    "path": f"/kota/opd-{i}/",
                    "created_at": now,
                }
                for i in range(UNITS - 1)
            ],
        )
        await session.execute(
            insert(App),
            [
                {
                    "slug": f"app-{i}",
                    "name": f"Aplikasi {i}",
                    "opd_id": 2 + i % (UNITS - 1),
                    "upstreams": ["http://x"],
                    "auth_mode": "bearer",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "description": "",
                    "contact": "",
                    "redirect_uris": [],
                    "requested_scopes": "",
                }
                for i in range(APPS)
            ],
        )
    for age in range(60):
        rows = []
        for i in range(busy):
            buckets = [0] * (LAST_BUCKET + 1)
            for seconds, count in ((0.004, 50 + i % 7), (0.02, 30), (0.1, 5), (0.6 + age / 100, 1)):
                buckets[bucket_of(seconds)] += count
            rows.append(
                MinuteRow(now // 60 - age, f"app-{i}", sum(buckets), 3, 1 if age % 5 == 0 else 0, 1, tuple(buckets))
            )
        async with maker() as session, session.begin():
            await add_traffic(session, rows)
    await engine.dispose()


async def timed(label: str, run: Callable[[], Awaitable[object]]) -> None:
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<52} median {statistics.median(samples):8.1f} ms   max {max(samples):8.1f} ms")


async def measure(url: str, now: int) -> None:
    engine = build_engine(url)
    maker = build_sessionmaker(engine)
    template = TEMPLATES.get_template("traffic.html")

    def view(actor: Actor, opd: str | None, render: bool) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            async with maker() as session:
                loaded = await load_traffic_view(session, actor, now, opd=opd, limit=30)
            if render:
                return template.render(
                    view=loaded,
                    units=[],
                    windows=WINDOWS,
                    charts=traffic_charts,
                    offset=0,
                    page_size=30,
                    actor=actor,
                    csrf="",
                    urlencode=lambda d: "",
                )
            return loaded

        return run

    kominfo, opd_admin = Actor("k", True, (), ()), Actor("a", False, ("/kota/opd-7/",), ())
    await timed("kominfo, every OPD: load", view(kominfo, None, False))
    await timed("kominfo, every OPD: load + render page", view(kominfo, None, True))
    await timed("kominfo, one OPD: load + render page", view(kominfo, "opd-7", True))
    await timed("opd-admin, own subtree: load + render page", view(opd_admin, None, True))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--apps-busy", type=int, default=APPS)
    args = parser.parse_args()
    now = int(time.time())
    asyncio.run(seed(args.url, args.apps_busy, now))
    asyncio.run(measure(args.url, now))


if __name__ == "__main__":
    main()
