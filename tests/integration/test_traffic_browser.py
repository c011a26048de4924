"""The traffic page in a real browser (Debian chromium): an hour of stored traffic plus live requests through
the gateway, drawn as charts whose accessible names carry the numbers; filtering by OPD; screenshots saved
as test artifacts."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.traffic import LAST_BUCKET, MinuteRow, bucket_of
from gateway.traffic_store import add_traffic
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.admin import BPKAD_OPERATOR, DISHUB_OPERATOR, KOMINFO, AdminClient, admin_token, run_seed
from tests.support.browser import chromium, screenshot
from tests.support.eventually import eventually
from tests.support.hub import PASSWORD, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser


def an_hour_of(app: str, now: int, scale: int) -> list[MinuteRow]:
    """A daily-looking hour: a swell of requests, a burst of 5xx, some 429s, latency rising with load."""
    rows = []
    for age in range(1, 60):
        minute = now // 60 - age
        requests = int(scale * (1.5 + math.sin(age / 9)))
        server_errors = scale // 4 if 20 <= age <= 23 else 0
        throttled = scale // 10 if age % 15 == 0 else 0
        buckets = [0] * (LAST_BUCKET + 1)
        buckets[bucket_of(0.02)] = requests - requests // 10
        buckets[bucket_of(0.05 + 0.01 * (requests / scale))] = requests // 10
        rows.append(
            MinuteRow(minute, app, requests, throttled + requests // 50, server_errors, throttled, tuple(buckets))
        )
    return rows


async def store(database_url: str, rows: list[MinuteRow]) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_traffic(session, rows)
    await engine.dispose()


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with (
        run_server(Upstream("opd")) as upstream,
        run_hub(
            database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2, traffic_flush_seconds=0.2
        ) as running,
    ):
        run_seed(database_url, running.seeded.users)
        kominfo = AdminClient(running, admin_token(running, KOMINFO))
        for email, slug, opd in ((DISHUB_OPERATOR, "parkir", "dishub"), (BPKAD_OPERATOR, "pajak", "bpkad")):
            operator = AdminClient(running, admin_token(running, email))
            assert (
                operator.post(
                    "/apps",
                    {
                        "slug": slug,
                        "name": f"Aplikasi {slug}",
                        "opd": opd,
                        "upstreams": [upstream],
                        "auth_mode": "none",
                        "contact": f"tik@{opd}.example.id",
                    },
                ).status_code
                == 201
            )
            assert kominfo.post(f"/apps/{slug}/approve").status_code == 200
            operator.close()
        kominfo.close()
        now = int(time.time())
        asyncio.run(store(database_url, an_hour_of("parkir", now, 40) + an_hour_of("pajak", now, 12)))
        eventually(lambda: httpx.get(f"{running.app_url('parkir')}/echo").status_code == 200)
        yield running


def sign_in(browser: Any, hub: Hub, email: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{hub.url}/admin/")
    page.fill("#login", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/admin/antrean")
    return page


def test_the_traffic_page_reads_at_a_glance(hub: Hub) -> None:
    with httpx.Client(base_url=hub.app_url("parkir"), timeout=10) as client:  # the app's own origin
        for _ in range(5):
            client.get("/echo")
    with chromium() as browser:
        page = sign_in(browser, hub, KOMINFO)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.click("text=Lalu lintas")
        page.wait_for_url(f"{hub.url}/admin/lalu-lintas")
        chart = page.get_by_role("img", name=re.compile(r"Permintaan per menit, Aplikasi parkir: total [\d.]+"))
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] >= 200 and box["height"] >= 40
        assert chart.locator("rect[fill='#c0392b']").count() > 0  # the burst of 5xx is drawn
        assert page.get_by_role("img", name=re.compile(r"Latensi p95 per menit, Aplikasi pajak")).is_visible()
        assert page.get_by_role("img", name=re.compile(r"Permintaan per menit, Semua")).is_visible()
        assert page.locator("tr[data-app='parkir']").is_visible() and not errors, errors
        screenshot(page, "console-traffic")

        page.select_option("#opd", "bpkad")
        page.click("text=Tampilkan")
        page.wait_for_url(re.compile(r".*opd=bpkad.*"))
        assert page.locator("tr[data-app='pajak']").is_visible()
        assert page.locator("tr[data-app='parkir']").count() == 0
        screenshot(page, "console-traffic-bpkad")
