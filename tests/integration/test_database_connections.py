"""PostgreSQL connections without a ping per checkout: an idle connection that was dropped is replaced before use
(the checkout is retried once with a fresh connection); a busy one is never pinged."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from idp.storage.db import build_engine


async def _terminate_other_backends(url: str) -> int:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    return int(killed or 0)


async def _pings_counted(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """How often the dialect pinged (wrapped at the dialect: the one thing outside our code we observe)."""
    pings: list[int] = []
    dialect = engine.sync_engine.dialect
    original = dialect.do_ping

    def counting(dbapi_connection):  # type: ignore[no-untyped-def]
        pings.append(1)
        return original(dbapi_connection)

    dialect.do_ping = counting
    return pings


def test_a_dropped_idle_connection_is_replaced_before_use(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop connections")

    async def scenario() -> tuple[int, int, int]:
        engine = build_engine(database_url, pool_size=2, ping_after_idle_seconds=0.2)
        pings = await _pings_counted(engine)
        try:
            for _ in range(20):  # busy: no ping
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            busy_pings = len(pings)
            killed = await _terminate_other_backends(database_url)
            await asyncio.sleep(0.3)  # idle past the threshold
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT 2")) == 2
            return busy_pings, killed, len(pings)
        finally:
            await engine.dispose()

    busy_pings, killed, pings = asyncio.run(scenario())
    assert busy_pings == 0
    assert killed >= 1
    assert pings >= 1


def test_no_pre_ping_at_checkout(database_url: str) -> None:
    engine = build_engine(database_url)
    try:
        assert not engine.sync_engine.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        asyncio.run(engine.dispose())
