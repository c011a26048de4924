"""Access history from the gateway's assertions: recorded in memory, written in batches, shown on /account.

SQLite and PostgreSQL (the ``database_url`` fixture runs each test on both).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from gateway.access_recorder import AccessRecorder
from gateway.access_writer import DAY, AccessWriter
from gateway.app import create_app
from gateway.apps import add_app
from gateway.model import Principal, Route
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import GatewayAccess
from tests.support.eventually import eventually
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Browser, Hub, run_hub
from tests.support.records import rows
from tests.support.server import run_server
from tests.support.upstream import Upstream

WARGA = "warga@example.id"
T = TypeVar("T")


async def register(database_url: str, issuer: str, apps: dict[str, str]) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        for slug, upstream in apps.items():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug=slug,
                opd_slug="dishub",
                upstreams=(upstream,),
                auth_mode="session",
                issuer=issuer,
                name=f"Layanan {slug.title()}",
                now=int(time.time()),
            )
    await engine.dispose()


def history_rows(html: str) -> list[str]:
    section = html.split('<section id="history">', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<tr class="access".*?</tr>', section, re.S)


@contextmanager
def city(database_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Hub]:
    """A hub with two session apps of Dinas Perhubungan, parkir and cctv."""
    with run_server(Upstream("parkir")) as parkir, run_server(Upstream("cctv")) as cctv:
        with run_hub(database_url, tmp_path, app_factory=create_app, **overrides) as hub:
            asyncio.run(register(database_url, hub.url, {"parkir": parkir, "cctv": cctv}))
            assert eventually(lambda: httpx.get(f"{hub.app_url('parkir')}/echo").status_code != 404)
            yield hub


def test_an_app_opened_through_the_gateway_shows_on_the_account_page(database_url: str, tmp_path: Path) -> None:
    with city(database_url, tmp_path, access_history_flush_seconds=0.2) as hub:
        browser = Browser(hub)
        landed = browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), WARGA)
        assert landed.status_code == 200, landed.text

        def gateway_rows() -> list[str]:
            return [row for row in history_rows(browser.go("/account").text) if 'data-via="gateway"' in row]

        [row] = eventually(gateway_rows)
        assert len(history_rows(browser.go("/account").text)) == 1  # the gateway's own sign-in is not an app
        assert "Layanan Parkir" in row and "Dinas Perhubungan" in row and "<td>gateway</td>" in row
        page = browser.go("/account").text
        assert "<th>Melalui</th>" in page
        english = browser.go("/account?lang=en").text
        assert "<th>Via</th>" in english and "roles, sign-in level" in english  # the claims the assertion carried
        browser.close()
        metrics = httpx.get(f"{hub.url}/metrics").text
        assert "gerbang_access_history_dropped_total 0.0" in metrics


def test_requests_are_recorded_once_per_window_and_written_at_shutdown(database_url: str, tmp_path: Path) -> None:
    # The writer waits 300 s between batches: nothing reaches the database before the hub stops.
    with city(database_url, tmp_path, access_history_flush_seconds=300) as hub:
        browser = Browser(hub)
        browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), WARGA)
        for app, path in (("parkir", "/echo?n=2"), ("parkir", "/echo?n=3"), ("cctv", "/echo"), ("cctv", "/echo?n=2")):
            assert browser.go(hub.app_url(app) + path).status_code == 200
        assert rows(database_url, GatewayAccess) == []  # no write per request
        browser.close()
        user_id = hub.seeded.users[WARGA]
    written = rows(database_url, GatewayAccess)  # the shutdown flush
    assert sorted((r.user_id, r.app, r.opd) for r in written) == [
        (user_id, "cctv", "dishub"),
        (user_id, "parkir", "dishub"),
    ]


PARKIR = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota-palembang/dishub/",
    upstreams=("http://127.0.0.1:9",),
    auth_mode="session",
    resource="http://parkir.localhost:8000/",
)


async def test_the_writer_prunes_rows_past_the_retention(database_url: str) -> None:
    engine = build_engine(database_url)
    clock = FrozenClock(1_790_000_000)
    recorder = AccessRecorder(clock, window=300, max_pending=10)
    writer = AccessWriter(recorder, build_sessionmaker(engine), clock, interval=60, retention_days=30)
    try:
        recorder.record(Principal(sub="old"), PARKIR, ("name",))
        clock.advance(31 * DAY)
        recorder.record(Principal(sub="new"), PARKIR, ())
        assert await writer.flush() == 2
        assert await writer.prune() == 1
        async with build_sessionmaker(engine)() as session:
            [kept] = (await session.scalars(select(GatewayAccess))).all()
            assert (kept.user_id, kept.claims) == ("new", "")  # no claims beyond sub: "", not NULL (not recorded)
    finally:
        await engine.dispose()


async def test_a_batch_the_database_refuses_is_kept_for_the_next_flush(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'gerbang.db'}")  # cannot be opened
    clock = FrozenClock(1_790_000_000)
    recorder = AccessRecorder(clock, window=300, max_pending=10)
    writer = AccessWriter(recorder, build_sessionmaker(engine), clock, interval=60, retention_days=30)
    try:
        recorder.record(Principal(sub="warga-1"), PARKIR, ("name",))
        assert await writer.flush() == 0
        assert recorder.pending == 1 and recorder.dropped_total == 0
    finally:
        await engine.dispose()
