"""``insert_if_absent``: create a row unless one with the same unique key exists, safe when several processes
run it at once (``gerbang serve --workers N``, several hosts starting together).

One ``INSERT … ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite both have it): the database decides, so there is
no check-then-insert window in which two starting workers both see nothing and one then fails on the unique
constraint (which made uvicorn stop the whole hub). The statement is a write, so on SQLite it also takes the
database's write lock first: what the caller reads after it in the same transaction is current.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from idp.storage.db import rows_affected


async def insert_if_absent(
    session: AsyncSession, model: type[DeclarativeBase], key: str, values: dict[str, Any]
) -> bool:
    """Insert ``values`` unless a row with the same ``key`` (a unique column) exists. True if it inserted."""
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in ("postgresql", "sqlite"):
        raise RuntimeError(f"insert_if_absent supports PostgreSQL and SQLite, not {dialect}")
    statement = build(model).values(**values).on_conflict_do_nothing(index_elements=[key])
    result = await session.execute(statement)
    return bool(rows_affected(result))
