"""Shared fixtures: a fresh migrated database per test (SQLite and PostgreSQL), isolated Redis keys."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.storage.migrate import upgrade
from tests.support.localhost_names import install as resolve_localhost_names
from tests.support.services import REDIS_URL, drop_pg_database, new_pg_database, require

# Test upstreams run on loopback; commands run in-process (CliRunner) read their settings from the environment.
os.environ.setdefault("GERBANG_UPSTREAM_ALLOW", "127.0.0.0/8,::1/128")
resolve_localhost_names()

BACKENDS = [b for b in os.environ.get("GERBANG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    name, url = new_pg_database()
    try:
        upgrade(url)
        yield name
    finally:
        drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database for one test, on each configured backend."""
    if request.param == "sqlite":
        target = tmp_path / "gerbang.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    name, url = new_pg_database(template=request.getfixturevalue("_pg_template"))
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def redis_url() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test or run uses; its keys are deleted afterwards."""
    import redis

    prefix = f"gerbang-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like ``database_url`` but shared by one module's tests (for a module-scoped hub they do not disturb)."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("module-db") / "gerbang.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    name, url = new_pg_database(template=request.getfixturevalue("_pg_template"))
    try:
        yield url
    finally:
        drop_pg_database(name)
