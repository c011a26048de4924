"""The shipped default limits (``policies/default/20-limits.yaml``) let a signed-in citizen's browser load a session
app's page with 60 assets on a cold cache without a single 429, and still refuse a sustained flood (issue 15: the
first shipped per-user limit, 20/s with burst 40, refused request 47 of such a page)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from policies.loader import DEFAULT_POLICY_DIR, load_policy_dir
from tests.support.eventually import eventually
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Browser, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

ASSETS = 60


async def _register(hub: Hub, upstream: str) -> None:
    engine = build_engine(hub.settings.database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="parkir",
            opd_slug="dishub",
            upstreams=(upstream,),
            auth_mode="session",
            issuer=hub.url,
            now=int(time.time()),
        )
    await engine.dispose()


@pytest.fixture
def signed_in(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, httpx.Cookies]]:
    with (
        run_server(Upstream("parkir")) as upstream,
        run_hub(database_url, tmp_path, app_factory=create_app, policy_dir=DEFAULT_POLICY_DIR) as hub,
    ):
        asyncio.run(_register(hub, upstream))
        eventually(lambda: httpx.get(f"{hub.app_url('parkir')}/").status_code != 404)
        browser = Browser(hub)
        landed = browser.login(browser.go(f"{hub.app_url('parkir')}/"), "warga@example.id")
        assert landed.status_code == 200 and landed.url.host == "parkir.localhost"
        yield hub, browser.http.cookies
        browser.close()


async def _fetch(hub: Hub, cookies: httpx.Cookies, paths: list[str], connections: int) -> list[int]:
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=hub.app_url("parkir"), cookies=cookies, limits=limits, timeout=20) as http:
        replies = await asyncio.gather(*(http.get(path) for path in paths))
    return [reply.status_code for reply in replies]


def _user_limit() -> tuple[float, int]:
    """(requests per second, burst) of the shipped per-user app limit."""
    [limit] = [rule for rule in load_policy_dir(DEFAULT_POLICY_DIR).limits if rule.id == "app-per-user"]
    return limit.rate / limit.period, limit.burst or limit.rate


def test_a_page_with_60_assets_loads_on_a_cold_cache(signed_in: tuple[Hub, httpx.Cookies]) -> None:
    hub, cookies = signed_in
    assets = [f"/static/asset-{n}.{('css', 'js', 'png')[n % 3]}" for n in range(ASSETS)]
    statuses = asyncio.run(_fetch(hub, cookies, ["/", *assets], connections=ASSETS + 1))  # all at once
    assert statuses.count(429) == 0 and set(statuses) == {200}, statuses


def test_a_sustained_flood_from_one_citizen_is_still_refused(signed_in: tuple[Hub, httpx.Cookies]) -> None:
    hub, cookies = signed_in
    rate, burst = _user_limit()
    started = time.monotonic()
    statuses = asyncio.run(_fetch(hub, cookies, [f"/flood/{n}" for n in range(1500)], connections=32))
    elapsed = time.monotonic() - started
    assert 429 in statuses
    # Never more than the burst plus what the rate refilled meanwhile (one more for the edge of a period).
    assert statuses.count(200) <= burst + rate * elapsed + 2, (statuses.count(200), elapsed)
