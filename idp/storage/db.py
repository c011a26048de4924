"""The async engine and session factory; SQLite gets WAL and a busy timeout on every connection."""

from __future__ import annotations

import zlib
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def build_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def serialize(session: AsyncSession, name: str, sqlite_table: str | None = None) -> None:
    """Hold a cluster-wide lock named ``name`` until the session's transaction ends.

    For check-then-create steps that several processes run at once on their first start (``--workers N``,
    several hosts): on PostgreSQL a transaction-level advisory lock. On SQLite (several workers on one file) a
    write to ``sqlite_table`` that changes nothing takes the database's write lock; the caller reads again after
    it. Without ``sqlite_table`` SQLite is left to serialize writers itself.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})
    elif dialect == "sqlite" and sqlite_table is not None:
        await session.execute(text(f'UPDATE "{sqlite_table}" SET rowid = rowid WHERE 0'))
