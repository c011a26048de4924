"""The hub's agreement page for a session app, in Chromium on a desktop and a 390 px phone (issue 15): the sign-in
page names the app and its OPD, the agreement page names each claim in plain words; agreeing opens the app,
cancelling ends on the hub. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.browser import screenshot
from tests.support.chromium import chromium
from tests.support.eventually import eventually
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser
WARGA = "warga@example.id"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
WIDEST = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


async def _register(hub: Hub, upstream: str) -> None:
    engine = build_engine(hub.settings.database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="parkir",
            name="Parkir Tepi Jalan",
            opd_slug="dishub",
            upstreams=(upstream,),
            auth_mode="session",
            issuer=hub.url,
            now=int(time.time()),
            claims=("email", "name", "opd", "roles"),
        )
    await engine.dispose()


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_server(Upstream("parkir")) as upstream, run_hub(database_url, tmp_path, app_factory=create_app) as hub:
        asyncio.run(_register(hub, upstream))
        eventually(lambda: httpx.get(f"{hub.app_url('parkir')}/echo").status_code != 404)
        yield hub


def _sign_in(page: Any, hub: Hub, name: str, phone: bool) -> None:
    page.goto(f"{hub.app_url('parkir')}/echo")
    expect(page.locator("#app-name")).to_have_text("Parkir Tepi Jalan")  # the app, not "Gerbang"
    expect(page.locator("#app-opd")).to_contain_text("Dinas Perhubungan")
    _fits(page, f"{name}-sign-in", phone)
    page.fill("#login", WARGA)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#app-consent")).to_be_visible()


def _fits(page: Any, name: str, phone: bool) -> None:
    screenshot(page, f"app-agreement-{name}")
    if phone:
        scroll, width = page.evaluate(WIDEST)
        assert scroll <= width, (name, scroll, width)


def test_agreeing_on_the_hub_opens_the_app(hub: Hub) -> None:
    with chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()  # type: ignore[attr-defined]
        _sign_in(page, hub, "desktop", phone=False)
        assert re.match(rf"^{re.escape(hub.url)}/auth/consent\?", page.url)  # on the hub's origin
        expect(page.locator("#app-consent")).to_contain_text("Parkir Tepi Jalan")
        expect(page.locator("#app-opd")).to_contain_text("Dinas Perhubungan")
        expect(page.locator("#app-claims li[data-claim]")).to_have_text(
            ["alamat email", "nama lengkap", "unit kerja (OPD) Anda", "peran Anda di unit kerja"]
        )
        _fits(page, "desktop", phone=False)
        page.click("button[value=allow]")
        page.wait_for_url(f"{hub.app_url('parkir')}/echo")
        seen = json.loads(page.locator("body").inner_text())
        assert "x-gerbang-assertion" in dict(seen["headers"])


def test_on_a_phone_in_english_cancelling_ends_on_the_hub(hub: Hub) -> None:
    with chromium() as browser:
        page = browser.new_context(**PHONE, locale="id-ID").new_page()  # type: ignore[attr-defined]
        _sign_in(page, hub, "phone", phone=True)
        _fits(page, "phone", phone=True)
        page.goto(page.url + "&lang=en")
        expect(page.locator("#app-consent")).to_contain_text("will receive the following about you")
        expect(page.locator("#app-claims li[data-claim]").first).to_have_text("email address")
        _fits(page, "phone-en", phone=True)
        page.click("button[value=deny]")
        expect(page.locator("#declined")).to_contain_text("Parkir Tepi Jalan")
        assert page.url.startswith(hub.url)
        _fits(page, "phone-declined", phone=True)
        page.goto(f"{hub.app_url('parkir')}/echo")  # nothing was agreed: asked again, no password
        expect(page.locator("#app-consent")).to_be_visible()
