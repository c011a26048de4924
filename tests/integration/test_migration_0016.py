"""Migration 0016 on both backends: clients.jwks_uri and the app submission's client_profile / client_jwks_uri
appear with their values kept through a downgrade and upgrade of the rest, and go on downgrade."""

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
from tests.support.services import drop_pg_database, new_pg_database

BACKENDS = [b for b in os.environ.get("GERBANG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
ISSUER = "https://gerbang.palembang.go.id"


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


async def _columns(url: str, table: str) -> set[str]:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table)}))
    finally:
        await engine.dispose()


async def _client_with_uri(url: str) -> str | None:
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO clients (client_id, name, redirect_uris, post_logout_redirect_uris, grant_types, scope, "
                    "auth_method, resources, first_party, status, created_at, updated_at, require_par, dpop_bound, "
                    "jwks_uri) VALUES ('bapenda', 'Bapenda', '[]', '[]', '[\"client_credentials\"]', 'x', "
                    "'private_key_jwt', '[]', false, 'active', 1, 1, false, false, 'https://keys.example/jwks')"
                )
            )
            return (await connection.execute(text("SELECT jwks_uri FROM clients WHERE client_id = 'bapenda'"))).scalar()
    finally:
        await engine.dispose()


def test_0016_adds_and_removes_the_jwks_uri_columns(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "head", issuer=ISSUER)
    assert "jwks_uri" in asyncio.run(_columns(url, "clients"))
    assert {"client_profile", "client_jwks_uri"} <= asyncio.run(_columns(url, "apps"))
    assert asyncio.run(_client_with_uri(url)) == "https://keys.example/jwks"
    command.downgrade(alembic_config(url, issuer=ISSUER), "0013")
    assert "jwks_uri" not in asyncio.run(_columns(url, "clients"))
    assert not {"client_profile", "client_jwks_uri"} & asyncio.run(_columns(url, "apps"))
    upgrade(url, "head", issuer=ISSUER)
    assert "jwks_uri" in asyncio.run(_columns(url, "clients"))
