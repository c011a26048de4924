"""Migration 0006 on both backends: apps registered before it keep the strict defaults (case-sensitive paths,
ambiguous paths refused, no extra WebSocket origins), the registry reads them, and the downgrade removes them."""

from __future__ import annotations

import asyncio
import json

from alembic import command

from gateway.registry import AppRegistry
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.migrate import alembic_config, upgrade
from tests.integration.test_migration_0004 import _run, empty_database  # noqa: F401 - the fixture
from tests.support.hub import TEST_UPSTREAM_ADDRESSES

ISSUER = "http://127.0.0.1:8000"


async def _routes(url: str) -> list[tuple[object, ...]]:
    engine = build_engine(url)
    try:
        registry = AppRegistry(
            build_sessionmaker(engine), ISSUER, FrozenClock(1_800_000_000), addresses=TEST_UPSTREAM_ADDRESSES
        )
        await registry.load()
        return [
            (r.slug, r.case_insensitive_paths, r.allow_ambiguous_paths, r.websocket_origins) for r in registry.routes()
        ]
    finally:
        await engine.dispose()


def test_0006_keeps_existing_apps_strict_and_downgrades(empty_database: str) -> None:  # noqa: F811
    url = empty_database
    upgrade(url, "0004")
    asyncio.run(
        _run(
            url,
            "INSERT INTO opd_units (id, slug, name, kind, parent_id, path, created_at) "
            "VALUES (1, 'dishub', 'Dinas Perhubungan', 'dinas', NULL, '/dishub/', 1)",
            "INSERT INTO apps (id, slug, name, description, opd_id, upstreams, auth_mode, restricted, status, "
            "created_at, updated_at, contact, redirect_uris, requested_scopes) VALUES (1, 'parkir', 'Parkir', '', 1, "
            f"'{json.dumps(['http://127.0.0.1:9001'])}', 'none', false, 'active', 1, 1, '', '[]', '')",
        )
    )
    upgrade(url, "head")
    assert asyncio.run(_routes(url)) == [("parkir", False, False, ())]
    command.downgrade(alembic_config(url), "0004")
    columns = asyncio.run(_run(url, "SELECT * FROM apps"))
    assert len(columns[0]) == 21  # the three new columns are gone, the row is kept
    upgrade(url, "head")
