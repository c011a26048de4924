"""In Chromium, desktop and 390 px wide: a Kominfo administrator edits an app, removes it after typing its name,
and reads the change on the audit page filtered to that app. Screenshots are kept as test artifacts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.admin import KOMINFO, run_seed
from tests.support.browser import chromium, screenshot
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES, Hub, run_hub

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        run_seed(database_url, running.seeded.users)
        asyncio.run(_add_app(database_url, running.url))
        yield running


async def _add_app(database_url: str, issuer: str) -> None:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="parkir",
                name="Parkir",
                opd_slug="dishub",
                upstreams=("http://127.0.0.1:9",),
                auth_mode="session",
                issuer=issuer,
                now=int(time.time()),
            )
    finally:
        await engine.dispose()


def _sign_in(browser: Any, hub: Hub, viewport: dict[str, int]) -> Any:
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{hub.url}/admin/")
    page.fill("#login", KOMINFO)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/admin/antrean")
    return page


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_edit_remove_and_read_it_in_the_audit_log(hub: Hub, device: str) -> None:
    with chromium() as browser:
        page = _sign_in(browser, hub, VIEWPORTS[device])
        page.goto(f"{hub.url}/admin/aplikasi")
        page.click('tr[data-slug="parkir"] a.edit-link')
        expect(page.locator("h1")).to_contain_text("parkir")
        page.fill("#name", "Parkir Online")
        _fits(page, device)
        screenshot(page, f"console-edit-app-{device}")
        page.click("form.edit button[type=submit]")
        expect(page.locator("#changes")).to_contain_text("Parkir Online")
        page.goto(f"{hub.url}/admin/ubah/aplikasi/parkir")
        page.click("p.danger a")
        expect(page.locator("#confirm-what")).to_contain_text("Parkir Online")
        page.fill("#confirm", "parkir")
        _fits(page, device)
        screenshot(page, f"console-confirm-remove-{device}")
        page.click("form.edit button[type=submit]")
        expect(page.locator("#done")).to_contain_text("parkir")
        page.goto(f"{hub.url}/admin/audit?target=app:parkir")
        rows = page.locator("tbody tr[data-seq]")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("menghapus aplikasi")
        expect(rows.nth(1)).to_contain_text("Parkir → Parkir Online")
        expect(rows.nth(1)).to_contain_text("WIB")
        _fits(page, device)
        screenshot(page, f"console-audit-{device}")


def _fits(page: Any, device: str) -> None:
    """Nothing wider than the screen: wide tables scroll inside their own box."""
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[device]["width"]
