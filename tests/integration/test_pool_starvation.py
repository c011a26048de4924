"""A request never waits for a database connection while holding one: with a pool of two connections, many
sign-ins at once all go through (before, two requests each holding a connection and waiting for a second
starved the pool until its 30 s timeout, and the city run answered 503 "QueuePool limit reached")."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.hub import Hub, authorize_url, pkce_pair, run_hub
from tests.support.signin_steps import sign_in_by_steps

CONCURRENT = 8


def _authorize(hub: Hub) -> int:
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=60) as http:
        return http.get(authorize_url(hub.client("Portal Kominfo")[0], pkce_pair()[1])).status_code


def _sign_in(hub: Hub) -> bool:
    client_id, secret = hub.client("Portal Kominfo")
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=60) as http:
        sign_in_by_steps(http, client_id, secret, "warga@example.id")
    return True


def test_many_requests_at_once_on_a_pool_of_two_connections(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the pool size is PostgreSQL's setting (SQLite's pool serves one file)")
    with run_hub(database_url, tmp_path, database_pool_size=1) as hub:  # 1 + 1 overflow
        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            statuses = list(pool.map(lambda _: _authorize(hub), range(CONCURRENT * 2)))
            assert statuses == [303] * (CONCURRENT * 2)
            time.sleep(3.5)  # the client cache has expired: the next reads miss it together
            assert all(pool.map(lambda _: _sign_in(hub), range(CONCURRENT)))
        assert time.monotonic() - started < 25  # no request sat out the pool's 30 s timeout
