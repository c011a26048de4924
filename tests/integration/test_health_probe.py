"""``gerbang_database_up`` / ``gerbang_redis_up`` and their ping times in ``/metrics`` on a real hub: 1 while the
service answers, 0 when nothing listens, when Redis is frozen (the probe times out instead of stalling) and when
the hub's own PostgreSQL is stopped; back to 1 when it returns."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from idp.storage.migrate import upgrade
from tests.support.eventually import eventually
from tests.support.hub import free_port, run_hub
from tests.support.own_postgres import own_postgres
from tests.support.redis_process import own_redis

PROBE = 0.2


def gauge(base: str, name: str) -> float | None:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return None if match is None else float(match.group(1))


def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gerbang.db'}"
    upgrade(url)
    return url


def test_without_redis_only_the_database_is_probed(tmp_path: Path) -> None:
    with run_hub(sqlite_url(tmp_path), tmp_path, app_factory=create_app, health_probe_seconds=PROBE) as hub:
        assert gauge(hub.url, "gerbang_database_up") == 1.0
        assert 0 < (gauge(hub.url, "gerbang_database_ping_seconds") or 0) < 2
        assert gauge(hub.url, "gerbang_redis_up") is None


def test_redis_with_nothing_listening_is_down(tmp_path: Path) -> None:
    with run_hub(
        sqlite_url(tmp_path),
        tmp_path,
        app_factory=create_app,
        health_probe_seconds=PROBE,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    ) as hub:
        assert gauge(hub.url, "gerbang_redis_up") == 0.0
        assert gauge(hub.url, "gerbang_database_up") == 1.0


def test_redis_up_frozen_and_back(tmp_path: Path) -> None:
    with (
        own_redis() as redis,
        run_hub(
            sqlite_url(tmp_path), tmp_path, app_factory=create_app, health_probe_seconds=PROBE, redis_url=redis.url
        ) as hub,
    ):
        eventually(lambda: gauge(hub.url, "gerbang_redis_up") == 1.0)
        assert 0 < (gauge(hub.url, "gerbang_redis_ping_seconds") or 0) < 0.25
        redis.freeze()
        try:
            eventually(lambda: gauge(hub.url, "gerbang_redis_up") == 0.0)
            # The probe gave up at its deadline: /metrics itself never waited for the frozen server.
            assert (gauge(hub.url, "gerbang_redis_ping_seconds") or 0) >= 0.2
            assert gauge(hub.url, "gerbang_database_up") == 1.0
        finally:
            redis.thaw()
        eventually(lambda: gauge(hub.url, "gerbang_redis_up") == 1.0)


@pytest.mark.slow
def test_postgres_stopped_and_back(tmp_path: Path) -> None:
    with own_postgres() as server:
        url = server.create_database("gerbang")
        upgrade(url)
        with run_hub(url, tmp_path, app_factory=create_app, health_probe_seconds=PROBE) as hub:
            eventually(lambda: gauge(hub.url, "gerbang_database_up") == 1.0)
            server.stop()
            eventually(lambda: gauge(hub.url, "gerbang_database_up") == 0.0)
            assert httpx.get(f"{hub.url}/healthz").status_code == 200
            server.start()
            eventually(lambda: gauge(hub.url, "gerbang_database_up") == 1.0, timeout=15)
