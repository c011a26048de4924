"""Benchmark: the admin API's list queries at city scale, before and after migration 0004's indexes.

    python -m loadtests.admin_lists [--server postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--runs 30]

Creates a fresh PostgreSQL database on that server, migrates it (``gerbang db upgrade``'s code), seeds 500 OPD
units, 2,000 apps (and a client for each approved one), 100,000 users (10 % ASN with a role) and 50,000
audit entries, then times every list endpoint's query and filter as the handlers run it (the listing
function with a real session: SQL, rows to JSON; no HTTP, no token check) — p50 and p95 of ``--runs``
runs — and shows the plan PostgreSQL chose (EXPLAIN of the main statement). It does this twice: with
0004's indexes ("after"), and with them dropped ("before": what 0001 had). Writes
``loadtests/results/admin-lists.md`` and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.admin import accounts, listings
from gateway.admin.actor import Actor
from gateway.admin.http import Page
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.migrate import upgrade
from idp.storage.models import AuditEntry, Client, Membership, OpdUnit, User, build_name_key

UNITS, APPS, USERS, AUDIT = 500, 2000, 100_000, 50_000
DINAS = 40  # units under the city; the rest are kelurahan/UPT under them
FIRST = [
    "Siti",
    "Budi",
    "Ahmad",
    "Dewi",
    "Rizki",
    "Nur",
    "Agus",
    "Putri",
    "Hendra",
    "Rina",
    "Fajar",
    "Yuni",
    "Eko",
    "Lestari",
    "Joko",
    "Wati",
    "Andi",
    "Sri",
    "Bambang",
    "Ayu",
]
LAST = [
    "Santoso",
    "Aminah",
    "Pratama",
    "Saputra",
    "Wijaya",
    "Hidayat",
    "Kurniawan",
    "Rahmawati",
    "Susanto",
    "Permata",
    "Gunawan",
    "Lubis",
    "Harahap",
    "Siregar",
    "Nasution",
    "Sembiring",
    "Purba",
    "Rangkuti",
]
INDEXES_0004 = (
    "ix_users_name_key",
    "ix_audit_log_actor_seq",
    "ix_audit_log_target_seq",
    "ix_audit_log_action_seq",
    "ix_users_email_prefix",
    "ix_users_name_key_prefix",
    "ix_users_email_trgm",
    "ix_users_name_key_trgm",
)
RESULTS = Path(__file__).parent / "results" / "admin-lists.md"


@dataclass
class Measured:
    label: str
    p50: float
    p95: float
    rows: int
    plan: str


@dataclass
class Capture:
    """The statements one listing call sends (the first is its main query)."""

    statements: list[tuple[str, Any]] = field(default_factory=list)
    on: bool = False


async def seed(engine: AsyncEngine) -> None:
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        units = [
            {
                "id": 1,
                "slug": "kota-palembang",
                "name": "Kota Palembang",
                "kind": "kota",
                "parent_id": None,
                "path": "/kota-palembang/",
                "created_at": now,
            }
        ]
        for n in range(DINAS):
            units.append(
                {
                    "id": n + 2,
                    "slug": f"dinas-{n}",
                    "name": f"Dinas {n}",
                    "kind": "dinas",
                    "parent_id": 1,
                    "path": f"/kota-palembang/dinas-{n}/",
                    "created_at": now,
                }
            )
        for n in range(UNITS - 1 - DINAS):
            parent = 2 + n % DINAS
            units.append(
                {
                    "id": len(units) + 1,
                    "slug": f"kelurahan-{n}",
                    "name": f"Kelurahan {n}",
                    "kind": "kelurahan",
                    "parent_id": parent,
                    "path": f"/kota-palembang/dinas-{parent - 2}/kelurahan-{n}/",
                    "created_at": now,
                }
            )
        await session.execute(insert(OpdUnit), units)
        apps, clients = [], []
        for n in range(APPS):
            status = ("pending", "active", "suspended", "rejected")[n % 4]
            client_id = f"client-{n}" if status in ("active", "suspended") else None
            apps.append(
                {
                    "slug": f"app-{n}",
                    "name": f"Aplikasi {n}",
                    "opd_id": 2 + n % (UNITS - 1),
                    "upstreams": ["http://127.0.0.1:9/"],
                    "auth_mode": "bearer",
                    "status": status,
                    "client_id": client_id,
                    "created_at": now + n,
                    "updated_at": now,
                    "description": "",
                    "contact": "tik@kota.example.id",
                    "redirect_uris": [],
                    "requested_scopes": "",
                }
            )
            if client_id:
                clients.append(
                    {
                        "client_id": client_id,
                        "name": f"Aplikasi {n}",
                        "opd_id": 2 + n % (UNITS - 1),
                        "redirect_uris": [],
                        "post_logout_redirect_uris": [],
                        "grant_types": ["client_credentials"],
                        "scope": "openid",
                        "resources": [],
                        "status": "active" if status == "active" else "suspended",
                        "created_at": now + n,
                        "updated_at": now,
                    }
                )
        await session.execute(insert(App), apps)
        await session.execute(insert(Client), clients)
        for start in range(0, USERS, 10_000):
            users = []
            for i in range(start, start + 10_000):
                name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i}"
                users.append(
                    {
                        "id": str(uuid.UUID(int=i + 1)),
                        "email": f"u{i}@palembang.go.id",
                        "name": name,
                        "name_key": build_name_key(name),
                        "nik": f"16710{i:011d}",
                        "kind": "asn" if i % 10 == 0 else "citizen",
                        "disabled": i % 97 == 0,
                        "created_at": now,
                        "updated_at": now,
                        "password_changed_at": now,
                    }
                )
            await session.execute(insert(User), users)
            await session.execute(
                insert(Membership),
                [
                    {"user_id": u["id"], "opd_id": 2 + n % (UNITS - 1), "role": "asn"}
                    for n, u in enumerate(users)
                    if u["kind"] == "asn"
                ],
            )
        for start in range(0, AUDIT, 10_000):  # list speed only: the chain's hashes are not real here
            await session.execute(
                insert(AuditEntry),
                [
                    {
                        "seq": s + 1,
                        "at": now - AUDIT + s,
                        "actor": f"admin-{s % 50}",
                        "action": ("app.approve", "user.disable", "keys.rotate", "app.submit", "user.enable")[s % 5],
                        "target": f"app:app-{s % APPS}",
                        "detail": {},
                        "prev_hash": "0" * 64,
                        "hash": "0" * 64,
                    }
                    for s in range(start, start + 10_000)
                ],
            )
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


def cases() -> list[tuple[str, Actor, Callable[[AsyncSession], Awaitable[list[dict[str, Any]]]]]]:
    kominfo = Actor("k", True, (), ())
    dinas = Actor("a", False, ("/kota-palembang/dinas-7/",), ())
    page = Page(50, 0)

    def users(**kw: Any) -> Callable[[AsyncSession], Awaitable[list[dict[str, Any]]]]:
        given = {"q": None, "opd": None, "disabled": None, **kw}
        who, paging = given.pop("actor", kominfo), given.pop("page", page)
        return lambda s: accounts.list_users(s, who, paging, **given)

    def audit(**kw: Any) -> Callable[[AsyncSession], Awaitable[list[dict[str, Any]]]]:
        given = {"action": None, "actor_sub": None, "target": None, "before": None, **kw}
        paging = given.pop("page", page)
        return lambda s: listings.list_audit(s, kominfo, paging, **given)

    def apps(who: Actor = kominfo, paging: Page = page, **kw: Any) -> Callable[[AsyncSession], Awaitable[Any]]:
        given = {"status": None, "opd": None, "q": None, **kw}
        return lambda s: listings.list_apps(s, who, paging, "https://hub.example.id", **given)

    def clients(**kw: Any) -> Callable[[AsyncSession], Awaitable[Any]]:
        given = {"status": None, "opd": None, "q": None, **kw}
        return lambda s: listings.list_clients(s, kominfo, page, **given)

    def opd(who: Actor = kominfo, **kw: Any) -> Callable[[AsyncSession], Awaitable[Any]]:
        given = {"under": None, "kind": None, "q": None, **kw}
        return lambda s: listings.list_opd(s, who, page, **given)

    return [
        ("GET /opd", kominfo, opd()),
        ("GET /opd?under=dinas-7", kominfo, opd(under="dinas-7")),
        ("GET /opd?q=kelurahan 12 (opd-admin)", dinas, opd(dinas, q="kelurahan 12")),
        ("GET /apps", kominfo, apps()),
        ("GET /apps?status=pending", kominfo, apps(status="pending")),
        ("GET /apps?opd=dinas-7", kominfo, apps(opd="dinas-7")),
        ("GET /apps?q=aplikasi 19", kominfo, apps(q="aplikasi 19")),
        ("GET /apps?offset=1900", kominfo, apps(paging=Page(50, 1900))),
        ("GET /apps (opd-admin)", dinas, apps(dinas)),
        ("GET /clients", kominfo, clients()),
        ("GET /clients?status=suspended", kominfo, clients(status="suspended")),
        ("GET /clients?q=aplikasi 77", kominfo, clients(q="aplikasi 77")),
        ("GET /users", kominfo, users()),
        ("GET /users (opd-admin)", dinas, users(actor=dinas)),
        ("GET /users?opd=dinas-7", kominfo, users(opd="dinas-7")),
        ("GET /users?disabled=true", kominfo, users(disabled=True)),
        ("GET /users?q=aminah 4242 (contains)", kominfo, users(q="aminah 4242")),
        ("GET /users?q=u4242@ (contains)", kominfo, users(q="u4242@")),
        ("GET /users?q=siti (contains, 1 in 20 match)", kominfo, users(q="siti")),
        ("GET /users?q=siti santoso&match=prefix", kominfo, users(q="siti santoso", match="prefix")),
        ("GET /users?q=u4242&match=prefix", kominfo, users(q="u4242", match="prefix")),
        ("GET /users?nik=…", kominfo, users(nik="1671000000004242")),
        ("GET /users?offset=10000", kominfo, users(page=Page(50, 10_000))),
        ("GET /users?after=u90000@… (keyset)", kominfo, users(page=Page(50, 0, "u90000@palembang.go.id"))),
        ("offset=90000 (refused by the API; for scale)", kominfo, users(page=Page(50, 90_000))),
        ("GET /audit", kominfo, audit()),
        ("GET /audit?actor=admin-7", kominfo, audit(actor_sub="admin-7")),
        ("GET /audit?target=app:app-1234", kominfo, audit(target="app:app-1234")),
        ("GET /audit?action=keys.rotate", kominfo, audit(action="keys.rotate")),
        (
            "GET /audit?since=…&until=… (1 h)",
            kominfo,
            audit(since=int(time.time()) - 30_000, until=int(time.time()) - 26_400),
        ),
        ("GET /audit?before=1000 (keyset, deep)", kominfo, audit(before=1000)),
        ("GET /audit?offset=10000", kominfo, audit(page=Page(50, 10_000))),
    ]


async def measure(engine: AsyncEngine, runs: int) -> list[Measured]:
    maker = build_sessionmaker(engine)
    capture = Capture()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if capture.on:
            capture.statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    results = []
    for label, _actor, run in cases():
        samples, rows = [], 0
        for n in range(runs + 2):  # two warm-up runs
            capture.on, capture.statements = n == 0, []
            async with maker() as session:
                started = time.perf_counter()
                found = await run(session)
                elapsed = (time.perf_counter() - started) * 1000
            if n == 0:
                statements, rows = list(capture.statements), len(found)
            if n >= 2:
                samples.append(elapsed)
        capture.on = False
        main = max(statements, key=lambda item: "LIMIT" in item[0])  # the page query, not a unit lookup
        async with engine.connect() as connection:
            plan = (await connection.exec_driver_sql("EXPLAIN " + main[0], main[1])).scalars().all()
        samples.sort()
        results.append(
            Measured(
                label,
                statistics.median(samples),
                samples[int(len(samples) * 0.95) - 1],
                min(rows, 50),
                summarise_plan(plan),
            )
        )
        print(f"{label:<44} p50 {results[-1].p50:8.2f} ms  p95 {results[-1].p95:8.2f} ms  {results[-1].plan}")
    event.remove(engine.sync_engine, "before_cursor_execute", record)
    return results


def summarise_plan(lines: list[str]) -> str:
    """Which scans the plan uses: index names, or the tables read sequentially."""
    scans = []
    for line in lines:
        seq = re.search(r"Seq Scan on (\w+)", line)
        index = re.search(r"Index (?:Only )?Scan(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)", line)
        if seq:
            scans.append(f"seq {seq.group(1)}")
        elif index:
            scans.append(index.group(1) or index.group(2))
    return ", ".join(dict.fromkeys(scans)) or lines[0].strip()


async def drop_0004_indexes(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for name in INDEXES_0004:
            await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
        await connection.execute(text("ANALYZE"))


async def admin_execute(server: str, sql: str) -> None:
    engine = build_engine(server)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def report(after: list[Measured], before: list[Measured], seconds: dict[str, float], server_version: str) -> str:
    lines = [
        "<!-- Written by `python -m loadtests.admin_lists`. -->",
        f"# Admin API lists at city scale — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Data: {UNITS} OPD units, {APPS:,} apps ({APPS // 2:,} clients), {USERS:,} users (10 % ASN with a role), "
        f"{AUDIT:,} audit entries; seeded in {seconds['seed']:.0f} s, migrated with `gerbang db upgrade`.",
        f"- PostgreSQL {server_version} on {platform.node()} (2 cores, shared with other work), Python "
        f"{platform.python_version()}.",
        "- Each row: the listing function the handler calls, with a real session (SQL + rows to JSON; no HTTP "
        "or token check), 50 per page, p50/p95 over the runs after two warm-ups. **after** = with migration "
        "0004's indexes; **before** = the same database with them dropped (what 0001 had). Plan: the scans "
        "PostgreSQL chose for the page query (EXPLAIN).",
        "",
        "| list and filter | rows | before p50 / p95 (ms) | after p50 / p95 (ms) | plan after | plan before |",
        "|---|---:|---:|---:|---|---|",
    ]
    for new, old in zip(after, before, strict=True):
        lines.append(
            f"| `{new.label}` | {new.rows} | {old.p50:.2f} / {old.p95:.2f} | **{new.p50:.2f}** / "
            f"{new.p95:.2f} | {new.plan} | {old.plan} |"
        )
    faster = [(old.p50 / new.p50, new, old) for new, old in zip(after, before, strict=True) if old.p50 > 2 * new.p50]
    lines += [
        "",
        "Made faster by 0004's indexes (p50): "
        + "; ".join(f"`{new.label}` {old.p50:.1f} → {new.p50:.1f} ms ({ratio:.0f}×)" for ratio, new, old in faster)
        + ".",
    ]
    lines += [
        "",
        "Reading it: the user search (`q`, contains or prefix), the audit filters (actor, target, action) "
        "and keyset paging (`after`, `before`) are the lists that grow with the city; offsets are capped "
        "at 10,000 by the API, and deeper pages use the cursor, which costs the same at any depth.",
        "",
    ]
    return "\n".join(lines)


async def main(server: str, runs: int, keep: bool) -> None:
    name = f"gerbang_lists_{uuid.uuid4().hex[:8]}"
    await admin_execute(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        await asyncio.to_thread(upgrade, url)
        engine = build_engine(url)
        await seed(engine)
        seconds = {"seed": time.perf_counter() - started}
        async with engine.connect() as connection:
            version = str((await connection.execute(text("SHOW server_version"))).scalar())
        print("-- after (0004 indexes)")
        after = await measure(engine, runs)
        await drop_0004_indexes(engine)
        print("-- before (0001 indexes)")
        before = await measure(engine, runs)
        await engine.dispose()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report(after, before, seconds, version))
        print(f"wrote {RESULTS}")
    finally:
        if not keep:
            await admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL database URL; a fresh database is created beside it and dropped",
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.server, arguments.runs, arguments.keep))
