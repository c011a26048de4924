"""Reading what the provider stored, straight from the test database (no provider code in between)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Base, User


async def _rows(database_url: str, model: type[Base], *conditions: Any) -> list[Any]:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            return list((await session.scalars(select(model).where(*conditions))).all())
    finally:
        await engine.dispose()


def rows(database_url: str, model: type[Base], *conditions: Any) -> list[Any]:
    # In a thread of its own: playwright's sync API keeps an event loop running in the test's thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _rows(database_url, model, *conditions)).result()


def user_by_email(database_url: str, email: str) -> User | None:
    found = rows(database_url, User, User.email == email)
    return found[0] if found else None


async def _update(database_url: str, model: type[Base], key: Any, values: dict[str, Any]) -> None:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            row = await session.get(model, key)
            assert row is not None, f"no {model.__name__} {key}"
            for name, value in values.items():
                setattr(row, name, value)
    finally:
        await engine.dispose()


def update_row(database_url: str, model: type[Base], key: Any, **values: Any) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _update(database_url, model, key, values)).result()
