"""A citizen in a real browser: sign up, confirm the email from the outbox, turn on TOTP, sign in with it
on a second device, and sign out everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

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
        assert laptop.locator("h1").inner_text() == "Periksa email Anda"

        [message] = messages_to(outbox, EMAIL)
        laptop.goto(hub.url + link_in(message, "/auth/verify-email"))
        laptop.click("button[type=submit]")
        assert laptop.locator("h1").inner_text() == "Email terkonfirmasi"

        laptop.click("#continue")
        laptop.fill("#login", EMAIL)
        laptop.fill("#password", PASSWORD)
        laptop.click("button[type=submit]")
        assert laptop.locator("#user-email").inner_text() == EMAIL

        laptop.click("#totp-setup")
        assert laptop.locator(".qr svg").count() == 1
        secret = laptop.locator("#totp-secret").inner_text()
        laptop.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        laptop.click("button[type=submit]")
        assert laptop.locator("#recovery-codes li").count() == 10
        clock.advance(30)

        phone = browser.new_context(locale="id-ID").new_page()
        sign_in(phone, hub)
        assert "/auth/mfa" in phone.url
        phone.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        phone.click("button[type=submit]")
        assert phone.locator("#session-acr").inner_text() == "2"
        assert phone.locator("tr.session").count() == 2

        phone.click("#end-all")
        assert phone.locator("h1").inner_text() == "Anda sudah keluar"
        laptop.goto(f"{hub.url}/account")
        assert "/auth/login" in laptop.url
        phone.goto(f"{hub.url}/account")
        assert "/auth/login" in phone.url
