"""The ledger's SQLite fast path: a prepared batch written in one hop to a thread of the writer's own.

Through SQLAlchemy and aiosqlite a batch's write is eight round trips between the event loop and aiosqlite's
thread (a cursor, the receipts' executemany, its close, the same for the checkpoint, the commit, the pool's
rollback), each waiting its turn on a loop busy with requests: under load the receipts waited milliseconds for
a commit that costs SQLite a fraction of one. Here ``BEGIN IMMEDIATE`` (SQLite's write lock, the cluster-wide
lock of ``ledger_store.read_head``), both inserts and ``COMMIT`` run in one call on one thread, with a plain
``sqlite3`` connection and the engine's pragmas (``idp.storage.db.connect_sqlite``): the same rows, the same
durability, one hop.

Only for a batch linked after a head carried in memory; reading the head (at start, after a failure or another
writer) stays on the SQLAlchemy path (``ledger_store.read_head``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.integrity.ledger_store import CHECKPOINTS, RECEIPTS, PreparedBatch, StaleHead
from idp.storage.db import connect_sqlite


def _insert_sql(table: Any) -> str:
    names = [column.key for column in table.columns]
    return f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({", ".join(":" + name for name in names)})'


_INSERT_RECEIPTS = _insert_sql(RECEIPTS)
_INSERT_CHECKPOINT = _insert_sql(CHECKPOINTS)


class SqliteAppender:
    """Writes prepared batches to the SQLite file the sessionmaker's engine uses, on one thread of its own."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gerbang-ledger")
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_sessionmaker(cls, sessionmaker: async_sessionmaker[AsyncSession]) -> SqliteAppender | None:
        """An appender when the sessionmaker's engine is a SQLite file, else None (PostgreSQL: the usual path)."""
        engine = sessionmaker.kw.get("bind")
        if engine is None or engine.dialect.name != "sqlite":
            return None
        database = make_url(str(engine.url)).database
        if not database or database == ":memory:":
            return None
        return cls(database)

    async def write(self, batch: PreparedBatch) -> None:
        """Committed when it returns; ``StaleHead`` when another writer took the batch's first seq."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)

    def close(self) -> None:
        self._executor.submit(self._close)
        self._executor.shutdown(wait=True)

    def _write(self, batch: PreparedBatch) -> None:
        if self._connection is None:
            self._connection = connect_sqlite(self._path)
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(_INSERT_RECEIPTS, batch.rows)
            connection.execute(_INSERT_CHECKPOINT, batch.checkpoint)
            connection.execute("COMMIT")
        except sqlite3.IntegrityError:
            connection.execute("ROLLBACK")
            raise StaleHead() from None
        except BaseException:
            self._discard()  # a connection in an unknown state: a fresh one for the next batch
            raise

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()  # an open transaction is rolled back
            except sqlite3.Error:
                pass

    def _close(self) -> None:
        self._discard()
