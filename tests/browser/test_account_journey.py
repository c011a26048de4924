"""A citizen in a real browser: sign up, confirm the email from the outbox, turn on TOTP, sign in with it
on a second device, and sign out everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from idp.clock import FrozenClock
from tests.support.chromium import chromium, run_localhost_hub
from tests.support.clock import app_with_clock
from tests.support.hub import Hub
from tests.support.outbox import link_in, messages_to

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "dewi@example.id", "tepian sungai musi yang indah"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_localhost_hub(database_url, tmp_path, app_with_clock(clock)) as running:
        yield running


def sign_in(page: Any, hub: Hub, password: str = PASSWORD) -> None:
    page.goto(f"{hub.url}/auth/login")
    page.fill("#login", EMAIL)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_up_verify_totp_and_sign_out_everywhere(hub: Hub, clock: FrozenClock) -> None:
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None
    with chromium() as browser:
        laptop = browser.new_context(locale="id-ID").new_page()
        laptop.goto(f"{hub.url}/auth/login")
        laptop.click("#register-link")
        laptop.fill("#name", "Dewi Lestari")
        laptop.fill("#email", EMAIL)
        laptop.fill("#password", PASSWORD)
        laptop.fill("#password_confirm", PASSWORD)
        laptop.click("button[type=submit]")
        expect(laptop.locator("h1")).to_have_text("Periksa email Anda", use_inner_text=True)

        [message] = messages_to(outbox, EMAIL)
        laptop.goto(hub.url + link_in(message, "/auth/verify-email"))
        laptop.click("button[type=submit]")
        expect(laptop.locator("h1")).to_have_text("Email terkonfirmasi", use_inner_text=True)

        laptop.click("#continue")
        laptop.fill("#login", EMAIL)
        laptop.fill("#password", PASSWORD)
        laptop.click("button[type=submit]")
        expect(laptop.locator("#user-email")).to_have_text(EMAIL, use_inner_text=True)

        laptop.click("#totp-setup")
        expect(laptop.locator(".qr svg")).to_have_count(1)
        secret = laptop.locator("#totp-secret").inner_text()
        laptop.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        laptop.click("button[type=submit]")
        expect(laptop.locator("#recovery-codes li")).to_have_count(10)
        clock.advance(30)

        phone = browser.new_context(locale="id-ID").new_page()
        sign_in(phone, hub)
        expect(phone).to_have_url(re.compile("/auth/mfa"))
        phone.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        phone.click("button[type=submit]")
        expect(phone.locator("#session-acr")).to_have_text("2", use_inner_text=True)
        expect(phone.locator("tr.session")).to_have_count(2)

        phone.click("#end-all")
        expect(phone.locator("h1")).to_have_text("Anda sudah keluar", use_inner_text=True)
        laptop.goto(f"{hub.url}/account")
        expect(laptop).to_have_url(re.compile("/auth/login"))
        phone.goto(f"{hub.url}/account")
        expect(phone).to_have_url(re.compile("/auth/login"))
