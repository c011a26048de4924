"""Benchmark: the admin API's list queries at city scale (500 OPD units, 2,000 apps, 100,000 users).

    python loadtests/admin_lists.py URL    # URL: an empty, migrated database (``gerbang db upgrade``)

Seeds the directory in bulk, then times each listing as Kominfo and as an OPD admin (median of 20 runs),
and the console's OPD tree page (one level of the tree with its counts).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import insert

from gateway.admin import accounts, listings
from gateway.admin.actor import Actor
from gateway.admin.http import Page
from gateway.admin.org_tree import load_tree_level
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import App, Membership, OpdUnit, User

UNITS, APPS, USERS = 500, 2000, 100_000


async def seed(url: str) -> None:
    engine = build_engine(url)
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        await session.execute(insert(OpdUnit), [{"id": 1, "slug": "kota", "name": "Kota", "kind": "kota",
                                                 "parent_id": None, "path": "/kota/", "created_at": now}])
        units = [{"id": i + 2, "slug": f"opd-{i}", "name": f"OPD {i}", "kind": "dinas", "parent_id": 1,
                  "path": f"/kota/opd-{i}/", "created_at": now} for i in range(UNITS - 1)]
        await session.execute(insert(OpdUnit), units)
        await session.execute(insert(App), [
            {"slug": f"app-{i}", "name": f"Aplikasi {i}", "opd_id": 2 + i % (UNITS - 1), "upstreams": ["http://x"],
             "auth_mode": "bearer", "status": ("pending", "active", "suspended")[i % 3], "created_at": now + i,
             "updated_at": now, "description": "", "contact": "", "redirect_uris": [], "requested_scopes": ""}
            for i in range(APPS)])
        for start in range(0, USERS, 10_000):
            users = [{"id": str(uuid.uuid4()), "email": f"u{i}@palembang.go.id", "name": f"Warga {i}",
                      "kind": "asn" if i % 10 == 0 else "citizen", "created_at": now, "updated_at": now}
                     for i in range(start, start + 10_000)]
            await session.execute(insert(User), users)
            await session.execute(insert(Membership), [
                {"user_id": u["id"], "opd_id": 2 + n % (UNITS - 1), "role": "asn"}
                for n, u in enumerate(users) if u["kind"] == "asn"])
    await engine.dispose()


async def timed(label: str, run: Callable[[], Awaitable[object]]) -> None:
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<48} median {statistics.median(samples):7.2f} ms   max {max(samples):7.2f} ms")


async def measure(url: str) -> None:
    engine = build_engine(url)
    maker = build_sessionmaker(engine)
    kominfo = Actor("k", True, (), ())
    opd_admin = Actor("a", False, ("/kota/opd-7/",), ())
    page = Page(50, 0)
    deep = Page(50, 90_000)

    def query(make: Callable[[object], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            async with maker() as session:
                return await make(session)
        return run

    for label, actor in (("kominfo", kominfo), ("opd-admin", opd_admin)):
        await timed(f"{label}: apps pending, first page", query(lambda s, a=actor: listings.list_apps(
            s, a, page, "https://h", status="pending", opd=None, q=None)))
        await timed(f"{label}: users, first page", query(lambda s, a=actor: accounts.list_users(
            s, a, page, q=None, opd=None, disabled=None)))
        await timed(f"{label}: users search q=9999", query(lambda s, a=actor: accounts.list_users(
            s, a, page, q="9999", opd=None, disabled=None)))
    await timed("kominfo: users, offset 90000", query(lambda s: accounts.list_users(
        s, kominfo, deep, q=None, opd=None, disabled=None)))
    await timed("kominfo: opd tree, first page", query(lambda s: listings.list_opd(
        s, kominfo, page, under=None, kind=None, q=None)))
    # The console's tree page: one level with per-unit counts (children, units below, apps, users).
    await timed("kominfo: console tree, top (city root + counts)", query(lambda s: load_tree_level(
        s, kominfo, page, under=None, q=None)))
    await timed("kominfo: console tree, 499 children, page 1", query(lambda s: load_tree_level(
        s, kominfo, page, under="kota", q=None)))
    await timed("kominfo: console tree, 499 children, page 10", query(lambda s: load_tree_level(
        s, kominfo, Page(50, 450), under="kota", q=None)))
    await timed("opd-admin: console tree, own unit", query(lambda s: load_tree_level(
        s, opd_admin, page, under=None, q=None)))
    await timed("kominfo: console tree, search q=opd-4", query(lambda s: load_tree_level(
        s, kominfo, page, under=None, q="opd-4")))
    await engine.dispose()


if __name__ == "__main__":
    target = sys.argv[1]
    asyncio.run(seed(target))
    asyncio.run(measure(target))
