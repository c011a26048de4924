"""Alembic environment: async engine, batch mode for SQLite (ALTER TABLE limits)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from idp.storage import gateway_models  # noqa: F401 - registers the gateway's tables: the metadata is every table
from idp.storage.db import build_engine
from idp.storage.models import Base

config = context.config


def _run(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        _migrate(connection)
        return
    # SQLite's batch mode rebuilds a table (copy, drop, rename). With foreign keys enforced, dropping a parent
    # table such as ``users`` cascades to every child row: a downgrade would delete grants and codes. SQLite's
    # own procedure for schema changes: foreign keys off outside the transaction, check them before commit.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        _migrate(connection, check_foreign_keys=True)
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _migrate(connection: Connection, check_foreign_keys: bool = False) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if check_foreign_keys:
            broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
            if broken:
                raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic's configuration names no sqlalchemy.url"
    engine = build_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
