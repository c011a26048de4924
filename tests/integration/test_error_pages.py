"""Error pages on a real hub (issue 15): a browser's navigation gets Bahasa Indonesia (English on request) with the
request id, API clients keep problem+json; the hub's unknown paths, unknown hosts and a suspended app's host;
Chromium at 390 px and on a desktop, screenshots kept as test artifacts."""

from __future__ import annotations

import asyncio
import time

import httpx

from gateway.apps import set_app_status
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from tests.integration.test_access_history import eventually
from tests.integration.test_data_rights import app_path, clock, hub  # noqa: F401 (fixtures)
from tests.support.browser import chromium, screenshot
from tests.support.hub import Hub

CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def suspend(hub: Hub, slug: str) -> None:
    async def run() -> None:
        engine = build_engine(hub.settings.database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                await set_app_status(session, slug, "suspended", int(time.time()), hub.url)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_pages_for_browsers_problem_json_for_api_clients(hub: Hub, clock: FrozenClock) -> None:
    page = httpx.get(f"{hub.url}/tidak-ada", headers={"Accept": CHROME})
    assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Halaman tidak ditemukan" in page.text and page.headers["x-request-id"] in page.text
    assert "Not Found" not in page.text
    english = httpx.get(f"{hub.url}/tidak-ada?lang=en", headers={"Accept": CHROME})
    assert "Page not found" in english.text
    unknown_host = httpx.get(hub.app_url("tidak-terdaftar") + "/", headers={"Accept": CHROME})
    assert unknown_host.status_code == 404 and "Halaman tidak ditemukan" in unknown_host.text
    api = httpx.get(hub.app_url("tidak-terdaftar") + "/", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    suspend(hub, "cctv")
    assert eventually(lambda: httpx.get(app_path(hub, "cctv"), headers={"Accept": CHROME}).status_code == 503)
    paused = httpx.get(app_path(hub, "cctv"), headers={"Accept": CHROME})
    assert "Layanan sedang tidak tersedia" in paused.text and "suspended" not in paused.text
    assert httpx.get(app_path(hub, "cctv")).headers["content-type"] == "application/problem+json"  # */*


def test_error_pages_fit_a_phone_and_a_desktop(hub: Hub, clock: FrozenClock) -> None:
    suspend(hub, "cctv")
    assert eventually(lambda: httpx.get(app_path(hub, "cctv")).status_code == 503)
    with chromium() as browser:
        for width, height, name in ((390, 844, "mobile"), (1280, 800, "desktop")):
            page = browser.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
            for url, words, shot in (
                (f"{hub.url}/tidak-ada", "Halaman tidak ditemukan", "error-404"),
                (app_path(hub, "cctv"), "Layanan sedang tidak tersedia", "error-503"),
            ):
                response = page.goto(url)
                assert response.status in (404, 503)
                assert page.inner_text("#error-title") == words
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                screenshot(page, f"{shot}-{name}")
            page.click("text=English")
            assert page.inner_text("#error-title") == "Service unavailable"
            page.close()
