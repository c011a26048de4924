"""The citizen's pages on a 390 px phone (issue 15): sign-in, brokered sign-in ("Masuk dengan INApas" and its
confirmation), /account and the data-rights page fit the screen — nothing scrolls sideways — with Chromium
screenshots kept in test-artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.broker_pair import NEW_CITIZEN, BrokerPair, run_broker_pair
from tests.support.browser import screenshot
from tests.support.chromium import chromium
from tests.support.hub import PASSWORD, authorize_url, pkce_pair

pytestmark = pytest.mark.browser
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "id-ID",
}
# What makes a page wider than the screen: the document, or any element reaching past the right edge.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && getComputedStyle(el).position !== 'fixed'
      && !el.closest('.scroll');
  }).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''));
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


def fits(page: Any, name: str) -> None:
    screenshot(page, f"mobile-{name}")
    measured = page.evaluate(OVERFLOW)
    assert measured["scroll"] <= measured["width"] and measured["wide"] == [], (name, measured)


@pytest.fixture
def pair(database_url: str, tmp_path: Path, _sqlite_template: Path) -> Iterator[BrokerPair]:
    upstream_db = tmp_path / "upstream.db"
    shutil.copy(_sqlite_template, upstream_db)
    with run_broker_pair(database_url, f"sqlite+aiosqlite:///{upstream_db}", tmp_path) as running:
        yield running


def test_citizen_pages_fit_a_390_px_phone(pair: BrokerPair) -> None:
    client_id, _ = pair.broker.client("Portal Kominfo")
    _, challenge = pkce_pair()
    with chromium() as browser:
        page = browser.new_context(**PHONE).new_page()
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="aplikasi kota"))
        page.goto(pair.broker.url + authorize_url(client_id, challenge))
        expect(page.locator("#upstream-inapas")).to_be_visible()
        fits(page, "sign-in")
        page.click("#upstream-inapas")
        expect(page).to_have_url(re.compile(rf"^{re.escape(pair.upstream.url)}/auth/login\?"))
        fits(page, "upstream-sign-in")
        page.fill("#login", NEW_CITIZEN)
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        expect(page.locator("#broker-confirm")).to_be_visible()
        fits(page, "brokered-confirm")
        page.click("#broker-confirm")
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/cb\?code="))
        page.goto(f"{pair.broker.url}/account")
        expect(page.locator("#identities .identity")).to_have_count(1)
        fits(page, "account")
        page.goto(f"{pair.broker.url}/account/privacy")
        expect(page.locator("#delete-account")).to_be_visible()
        fits(page, "data-rights")
        page.goto(f"{pair.broker.url}/account/data")
        fits(page, "my-data")
        page.goto(f"{pair.broker.url}/auth/register")
        fits(page, "register")
