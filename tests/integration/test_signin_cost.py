"""What a sign-in costs the database does not depend on the city's history.

The whole browser sign-in (``tests/support/signin_steps.py``) against a real hub, measured by what the database
did rather than by time: on PostgreSQL the rows read (``pg_stat_user_tables``), with and without 200,000 stale
authorization codes of the same client from the last hour (the nonce replay window). Before the nonce check was
a point lookup on ``(client_id, nonce)`` it read every code of the client: ~432k rows per sign-in at the city's
rate. On SQLite, where no row counter is exposed, the plan of the nonce lookup is checked instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from idp.app import create_app
from idp.storage.db import build_engine
from tests.support.hub import Hub, run_hub
from tests.support.signin_steps import DatabaseMeter, sign_in_by_steps

STALE_CODES = 200_000
FIRST_PARTY = "Portal Kominfo"
LOGIN = "warga@example.id"
STATS_IDLE_INTERVAL = 10.5  # PGSTAT_IDLE_INTERVAL (PostgreSQL 15+) and a margin


@contextmanager
def metered_hub(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, DatabaseMeter]]:
    """The provider with nothing running in the background during a test (key refresh, pruning)."""
    apps: list[Any] = []

    def factory(settings: Any) -> Any:
        apps.append(create_app(settings))
        return apps[0]

    with run_hub(database_url, tmp_path, app_factory=factory, key_refresh_seconds=3600, prune_seconds=86_400) as hub:
        meter = DatabaseMeter(apps[0].state.idp.engine)
        try:
            yield hub, meter
        finally:
            meter.close()


def sign_in(hub: Hub, meter: DatabaseMeter | None = None) -> None:
    client_id, secret = hub.client(FIRST_PARTY)
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30) as http:
        sign_in_by_steps(http, client_id, secret, LOGIN, meter)


async def _rows_read(url: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables"
        )
    finally:
        await connection.close()
    return {row["relname"]: int(row["n"]) for row in rows}


def settled_rows_read(url: str, timeout: float = 60.0) -> dict[str, int]:
    """An idle backend publishes its table counters within PostgreSQL's idle stats interval (10 s): wait past it,
    then until two readings agree."""
    deadline = time.monotonic() + timeout
    time.sleep(STATS_IDLE_INTERVAL)
    previous = asyncio.run(_rows_read(url))
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = asyncio.run(_rows_read(url))
        if current == previous:
            return current
        previous = current
    raise AssertionError("table statistics did not settle")


def rows_of_one_sign_in(hub: Hub, url: str) -> dict[str, int]:
    before = settled_rows_read(url)
    sign_in(hub)
    after = settled_rows_read(url)
    return {table: after.get(table, 0) - count for table, count in before.items() if after.get(table, 0) != count}


STALE_CODES_SQL = (
    "INSERT INTO authorization_codes (code_digest, client_id, user_id, session_id, redirect_uri, scope, nonce, "
    "code_challenge, code_challenge_method, resources, auth_time, acr, amr, family_id, expires_at, redeemed_at) "
    "SELECT md5(i::text) || md5((-i)::text), :client, :user, NULL, 'http://127.0.0.1:9/cb', 'openid', "
    "md5('n' || i::text), 'c', 'S256', '[]', CAST(:now AS bigint), '1', '[\"pwd\"]', md5('f' || i::text), "
    "CAST(:now AS bigint) - (i % 3500) - 1, CASE WHEN i % 2 = 0 THEN CAST(:now AS bigint) END "
    "FROM generate_series(1, :count) AS i"
)


async def _add_stale_codes(url: str, client_id: str, user_id: str, count: int) -> None:
    """Codes of the last hour (expired, inside the nonce window), as the city makes them: by SQL, in bulk."""
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(STALE_CODES_SQL), {"client": client_id, "user": user_id, "now": int(time.time()), "count": count}
            )
    finally:
        await engine.dispose()
    await _analyze(url)


async def _analyze(url: str) -> None:
    """Statistics for every table, so the planner chooses alike before and after the stale codes."""
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_rows_read_per_sign_in_do_not_grow_with_stale_codes(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("rows read are counted by PostgreSQL (the SQLite test checks the lookup's plan)")
    with metered_hub(database_url, tmp_path) as (hub, _meter):
        sign_in(hub)  # warm: caches filled, the planner has seen every statement
        asyncio.run(_analyze(database_url))
        empty = rows_of_one_sign_in(hub, database_url)
        asyncio.run(_add_stale_codes(database_url, hub.client(FIRST_PARTY)[0], hub.seeded.users[LOGIN], STALE_CODES))
        stale = rows_of_one_sign_in(hub, database_url)
    assert stale.get("authorization_codes", 0) <= empty.get("authorization_codes", 0) + 2, (empty, stale)
    # Small tables may be read by a sequential scan once they have statistics: a few rows either way.
    assert sum(stale.values()) <= sum(empty.values()) + 10, (empty, stale)


def test_nonce_check_is_an_index_lookup_on_sqlite(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: rows read are counted instead")

    async def plan() -> str:
        engine = build_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = (
                    await connection.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT code_digest FROM authorization_codes "
                            "WHERE client_id = 'c' AND nonce = 'n' AND expires_at > 0 LIMIT 1"
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
        return " ".join(str(row[-1]) for row in rows)

    assert "USING INDEX ix_authorization_codes_client_nonce (client_id=? AND nonce=?)" in asyncio.run(plan())


# Statements each step sends, BEGIN and COMMIT included (``StepCost.round_trips``). PostgreSQL: every write is one
# statement (data-modifying CTEs: the password POST's session, interaction and event; the resume's code, session
# clients and interaction's end; the code exchange), every read runs outside a transaction. Before the password
# POST's and the resume's writes were one statement each, both steps sent 8 (BEGIN, three writes, COMMIT).
ROUND_TRIPS = {
    "postgresql": {"authorize": 2, "login_page": 2, "password": 4, "resume": 4, "token": 2},
    "sqlite": {"authorize": 2, "login_page": 2, "password": 8, "resume": 8, "token": 7},
}


def test_each_sign_in_step_uses_at_most_one_read_and_one_write_transaction(database_url: str, tmp_path: Path) -> None:
    with metered_hub(database_url, tmp_path) as (hub, meter):
        sign_in(hub)  # warm: the client cache is filled as it is under load
        meter.steps.clear()
        sign_in(hub, meter)
    costs = {name: (cost.reading, cost.writing, cost.round_trips) for name, cost in meter.steps.items()}
    assert set(costs) == {"authorize", "login_page", "password", "resume", "token"}
    most = ROUND_TRIPS["postgresql" if database_url.startswith("postgresql") else "sqlite"]
    for name, cost in meter.steps.items():
        assert cost.reading <= 1 and cost.writing <= 1, f"{name}: {costs}"
        assert cost.round_trips <= most[name], f"{name}: {costs}"


def test_a_refresh_is_one_read_and_one_write_statement(database_url: str, tmp_path: Path) -> None:
    """The hottest user grant: the token, its family, the person and the sign-in read in one statement; on
    PostgreSQL the rotation, the successor and the access token's jti written in one more (data-modifying CTEs).
    SQLite has no such statement: there the writes are one transaction of three."""
    with metered_hub(database_url, tmp_path) as (hub, meter):
        client_id, secret = hub.client(FIRST_PARTY)
        with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30) as http:
            token = sign_in_by_steps(http, client_id, secret, LOGIN).tokens["refresh_token"]
            for step in ("warm", "refresh"):  # warm: the client cache is filled as it is under load
                with meter.step(step):
                    answer = http.post(
                        "/auth/token",
                        data={"grant_type": "refresh_token", "refresh_token": token},
                        auth=(client_id, secret),
                    )
                assert answer.status_code == 200, answer.text
                token = answer.json()["refresh_token"]
    cost = meter.steps["refresh"]
    if database_url.startswith("postgresql"):
        assert cost.statements == 2, cost  # each its own transaction, no BEGIN/COMMIT round trips
    else:
        assert (cost.statements, cost.writing) == (4, 1), cost
