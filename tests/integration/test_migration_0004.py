"""Migration 0004 on both backends: from 0001 with users already stored, ``name_key`` is backfilled exactly as
the application writes it, the list indexes appear (PostgreSQL: prefix and, with pg_trgm, trigram indexes
that the planner uses), and the downgrade takes all of it away again."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from idp.storage.db import build_engine
from idp.storage.migrate import alembic_config, upgrade
from idp.storage.models import build_name_key
from tests.support.services import drop_pg_database, new_pg_database

NAMES = {"u1": "Siti  Aminah", "u2": "ＢＵＤＩ Santoso", "u3": "  Nur\tAminah "}
BACKENDS = [b for b in os.environ.get("GERBANG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
INDEXES = {"ix_users_name_key", "ix_audit_log_actor_seq", "ix_audit_log_target_seq", "ix_audit_log_action_seq"}


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    name, url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


async def _run(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await connection.execute(text(statement))
                rows = [tuple(row) for row in result.all()] if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


async def _indexes(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: {
                    index["name"] for table in ("users", "audit_log") for index in inspect(sync).get_indexes(table)
                }
            )
    finally:
        await engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def test_0004_backfills_name_keys_adds_indexes_and_downgrades(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "0001")
    asyncio.run(
        _run(
            url,
            *[
                f"INSERT INTO users (id, email, name, kind, email_verified, disabled, created_at, "
                f"updated_at, password_changed_at) VALUES ('{uid}', '{uid}@x.example.id', '{name}', "
                f"'citizen', false, false, 0, 0, 0)"
                for uid, name in NAMES.items()
            ],
        )
    )
    upgrade(url, "0004")
    keys = dict(asyncio.run(_run(url, "SELECT id, name_key FROM users ORDER BY id")))
    assert keys == {uid: build_name_key(name) for uid, name in NAMES.items()}
    assert keys["u2"] == "budi santoso" and keys["u3"] == "nur aminah"
    indexes = asyncio.run(_indexes(url))
    assert INDEXES <= indexes
    if url.startswith("postgresql"):
        assert {"ix_users_email_prefix", "ix_users_name_key_prefix"} <= indexes
        trigram = bool(asyncio.run(_run(url, "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")))
        assert ({"ix_users_email_trgm", "ix_users_name_key_trgm"} <= indexes) == trigram
        # no index waits for older transactions before the planner may use it (the backfill runs after them)
        assert asyncio.run(
            _run(url, "SELECT bool_or(indcheckxmin) FROM pg_index WHERE indrelid = 'users'::regclass")
        ) == [(False,)]
        plan = asyncio.run(
            _run(url, "SET enable_seqscan = off", "EXPLAIN SELECT id FROM users WHERE name_key LIKE 'siti%'")
        )
        assert "ix_users_name_key_prefix" in " ".join(str(row[0]) for row in plan)
    _downgrade(url, "0001")
    assert not (INDEXES | {"ix_users_email_prefix", "ix_users_email_trgm"}) & asyncio.run(_indexes(url))
    assert asyncio.run(_run(url, "SELECT name FROM users WHERE id = 'u1'")) == [("Siti  Aminah",)]
    upgrade(url, "head")  # and up again, over the rows the downgrade kept
    assert dict(asyncio.run(_run(url, "SELECT id, name_key FROM users ORDER BY id")))["u1"] == "siti aminah"
