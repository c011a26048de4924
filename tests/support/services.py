"""Real services for tests: PostgreSQL and Redis on loopback, isolated per test.

When ``CI=true`` a missing service fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

from tests.support.ci import skip_or_fail

PG_ADMIN_DSN = os.environ.get("GERBANG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GERBANG_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require(service: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        skip_or_fail(f"{service} is not reachable on {host}:{port}")


async def _pg_execute(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def pg_execute(sql: str) -> None:
    asyncio.run(_pg_execute(sql))


def new_pg_database(template: str | None = None) -> tuple[str, str]:
    """Create a fresh database (optionally from a migrated template); returns (name, async URL)."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"gerbang_t_{uuid.uuid4().hex[:12]}"
    pg_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
