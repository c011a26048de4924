"""The async engine and session factory; SQLite gets WAL and a busy timeout on every connection."""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Result, Select, Table, bindparam, event, insert, literal, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.dml import UpdateBase

SINGLE_STATEMENTS = "gerbang.single_statements"

# A write for ``write_together``: a statement built once (its values bind parameters with names of its own) and
# this request's parameters for it. Building a statement per request (``.values(...)``, ``.where(...)``) and
# generating its cache key cost more CPU than running it. Parameter names hold a double underscore, which no
# column name does: SQLAlchemy takes a parameter named like a column of an INSERT's or UPDATE's table as a value
# for that column, also inside a common table expression.
Write = tuple[UpdateBase, dict[str, Any]]


def build_engine(
    url: str, pool_size: int = 20, *, recycle_seconds: int = 1800, ping_after_idle_seconds: float = 30.0
) -> AsyncEngine:
    """PostgreSQL: no ``pool_pre_ping`` (it cost a BEGIN/ROLLBACK round trip at every checkout: 25 of a sign-in's
    33 transactions). A connection is pinged only when it comes out of the pool after lying idle for
    ``ping_after_idle_seconds`` (where a firewall or a restarted server may have dropped it); a failed ping makes
    the pool retry the checkout once with a fresh connection. Connections are replaced after ``recycle_seconds``.
    A connection that drops while busy fails its one request (503) and the pool discards every connection older
    than the failure, so the next requests reconnect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False, pool_recycle=recycle_seconds
    )
    watch_idle_connections(engine, ping_after_idle_seconds)
    return engine


def watch_idle_connections(engine: AsyncEngine, ping_after_idle_seconds: float) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < ping_after_idle_seconds:
            return
        record.info["returned_at"] = None
        try:
            alive = sync.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"idle connection dropped: {exc}") from exc
        if not alive:
            raise DisconnectionError("idle connection dropped")


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection to the database file at ``path`` with the engine's pragmas (WAL, busy
    timeout), in autocommit mode (the caller says ``BEGIN``): for a writer that owns a thread of its own
    (``gateway.integrity.ledger_sqlite``). Use it on one thread at a time."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    _sqlite_pragmas(connection, None)
    return connection


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def single_statements(session: AsyncSession) -> AsyncSession:
    """Run the session's statements without a transaction around them (autocommit): each statement is atomic and
    sees a consistent snapshot on its own. For hot paths that read, or write in one statement: the BEGIN and
    COMMIT/ROLLBACK round trips a transaction would add are saved. Call before the first statement; after
    ``session.close()`` (a request that lets its connection go while it waits) call again before the next one."""
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    session.info[SINGLE_STATEMENTS] = True
    return session


def is_single_statements(session: AsyncSession) -> bool:
    """Was ``single_statements`` asked for this session (to be asked again after it was closed)?"""
    return bool(session.info.get(SINGLE_STATEMENTS))


async def write_together(sessionmaker: async_sessionmaker[AsyncSession], writes: Sequence[Write]) -> None:
    """Independent INSERT/UPDATE/DELETE statements, all or none. PostgreSQL: one statement, each write a
    data-modifying common table expression (atomic on its own, one round trip instead of BEGIN, one per write,
    COMMIT), built once per combination of statements. SQLite, which has no such statement: one transaction.
    The writes' parameter names must differ (``inserting``'s prefix)."""
    async with sessionmaker() as session:
        if session.get_bind().dialect.name == "postgresql":
            parameters: dict[str, Any] = {}
            for _statement, values in writes:
                parameters.update(values)
            together = _together(tuple(statement for statement, _values in writes))
            await (await single_statements(session)).execute(together, parameters)
            return
        async with session.begin():
            for statement, values in writes:
                await session.execute(statement, values)


@lru_cache(maxsize=64)  # a handful of combinations (with or without the ended session, the interaction, ...)
def _together(statements: tuple[UpdateBase, ...]) -> Select[int]:
    return select(literal(1)).add_cte(*(statement.cte(f"write_{i}") for i, statement in enumerate(statements)))


def inserting(table: Table, row: Mapping[str, Any], prefix: str) -> Write:
    """The INSERT of ``row`` (column key → value) for ``write_together``: the statement built once per table,
    set of columns and ``prefix`` (its parameters are named ``prefix`` + column key; end it with ``__``), the row
    its parameters."""
    full = with_defaults(table, row)
    return _insert_statement(table, tuple(full), prefix), {prefix + key: value for key, value in full.items()}


def with_defaults(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with the Python-side default of every column it leaves out: a statement built once with its values
    as parameters (an INSERT inside a common table expression, or INSERT … SELECT) gets no defaults filled in at
    execution, so it names every such column itself."""
    full = dict(row)
    for column in table.c:
        default = column.default
        if column.key in full or default is None or not isinstance(default, ColumnDefault):
            continue
        full[column.key] = default.arg(None) if default.is_callable else default.arg
    return full


@lru_cache(maxsize=128)  # per table, set of columns and prefix: a few per hot path
def _insert_statement(table: Table, keys: tuple[str, ...], prefix: str) -> Insert:
    return insert(table).values({key: bindparam(prefix + key, type_=table.c[key].type) for key in keys})


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


def column_values(row: Any) -> dict[str, Any]:
    """The column values set on a new ORM object, for a plain ``insert(Model).values(...)``: a hot path's INSERT
    without the unit of work's flush (columns left unset keep their defaults)."""
    return {column.key: row.__dict__[column.key] for column in row.__table__.columns if column.key in row.__dict__}


def rows_affected(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE, DELETE or INSERT touched. ``session.execute`` is typed as returning a plain
    ``Result``; for these statements it is a ``CursorResult``, which carries the count."""
    return cast(CursorResult[*tuple[Any, ...]], result).rowcount
