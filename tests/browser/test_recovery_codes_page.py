"""The recovery-codes page in Chromium, on a desktop and a 390 px phone (issue 15): the download button saves a text
file with exactly the codes shown, the print button appears (its script runs under the page's CSP), and the print
stylesheet leaves only the heading, the advice and the codes. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from idp.clock import FrozenClock
from tests.support.browser import screenshot
from tests.support.chromium import chromium
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Hub, run_hub

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=app_with_clock(clock)) as running:
        yield running


def _enrol(page: Any, hub: Hub, clock: FrozenClock, login: str) -> list[str]:
    page.goto(f"{hub.url}/auth/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/account")
    page.goto(f"{hub.url}/account/totp")
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
    page.click("button[type=submit]")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    return [code.strip() for code in page.locator("#recovery-codes li").all_inner_texts()]


@pytest.mark.parametrize(("login", "viewport"), [("warga@example.id", "desktop"), ("asn@dishub.example.id", "phone")])
def test_recovery_codes_download_and_print(hub: Hub, clock: FrozenClock, login: str, viewport: str) -> None:
    with chromium() as browser:
        options = PHONE if viewport == "phone" else {}
        page = browser.new_context(**options, locale="id-ID", accept_downloads=True).new_page()  # type: ignore[attr-defined]
        codes = _enrol(page, hub, clock, login)
        expect(page.locator("#print-codes")).to_be_visible()  # print.js ran
        screenshot(page, f"recovery-codes-{viewport}")
        if viewport == "phone":
            assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

        with page.expect_download() as download_info:
            page.click("#download-codes")
        download = download_info.value
        assert download.suggested_filename == "gerbang-kode-pemulihan.txt"
        raw = Path(download.path()).read_bytes()
        assert b"\r\n" in raw  # Windows' Notepad shows the lines apart too
        saved = raw.decode().splitlines()
        assert [line for line in saved if line in codes] == codes and login in saved

        page.emulate_media(media="print")
        expect(page.locator("#recovery-codes")).to_be_visible()
        for hidden in (".bar", ".foot", "#download-codes", "#print-codes", "#back-to-account"):
            expect(page.locator(hidden)).to_be_hidden()
        screenshot(page, f"recovery-codes-{viewport}-print")
