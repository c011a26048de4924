"""Passkeys in a real browser with a CDP virtual authenticator (on http://localhost: WebAuthn refuses IPs):
add one on /account, sign in with it alone, and use it as the second factor after a password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from idp.clock import FrozenClock
from idp.storage.models import Passkey
from tests.support.chromium import chromium, run_localhost_hub
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Hub
from tests.support.outbox import body_of, link_in, wait_for_messages
from tests.support.records import rows

pytestmark = pytest.mark.browser

WARGA = "warga@example.id"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_localhost_hub(database_url, tmp_path, app_with_clock(FrozenClock())) as running:
        yield running


def with_authenticator(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def password_sign_in(page: Any, hub: Hub) -> None:
    page.goto(f"{hub.url}/auth/login")
    page.fill("#login", WARGA)
    page.fill("#password", PASSWORD)
    page.click("form[action='/auth/login'] button[type=submit]")


def sign_out(page: Any, hub: Hub) -> None:
    page.goto(f"{hub.url}/account")
    page.click("form[action='/auth/logout'] button")
    page.wait_for_url("**/auth/logout")
    page.goto(f"{hub.url}/account")
    expect(page).to_have_url(re.compile("/auth/login"))


def test_passkey_enrol_then_passwordless_and_second_factor(hub: Hub) -> None:
    with chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()
        with_authenticator(page)
        password_sign_in(page, hub)
        expect(page.locator("#session-acr")).to_have_text("1", use_inner_text=True)
        page.fill("#passkey-name", "Ponsel Dewi")
        page.click("#passkey-add")
        page.wait_for_url("**/account?done=passkey")
        expect(page.locator("tr.passkey")).to_have_count(1)
        assert "Ponsel Dewi" in page.content()
        [stored] = rows(hub.settings.database_url, Passkey)
        assert stored.name == "Ponsel Dewi"

        sign_out(page, hub)
        page.goto(f"{hub.url}/auth/login")
        page.click("#passkey-login")
        page.wait_for_url("**/account")
        expect(page.locator("#session-acr")).to_have_text("2", use_inner_text=True)

        sign_out(page, hub)
        password_sign_in(page, hub)
        expect(page).to_have_url(re.compile("/auth/mfa"))  # a passkey now makes the password alone insufficient
        page.click("#passkey-second")
        page.wait_for_url("**/account")
        expect(page.locator("#session-acr")).to_have_text("2", use_inner_text=True)
        [used] = rows(hub.settings.database_url, Passkey)
        assert used.last_used_at is not None


def test_adding_a_passkey_from_a_stale_session_signs_in_again_and_the_owner_can_undo_it(
    database_url: str, tmp_path: Path
) -> None:
    """A stolen session cookie cannot add a passkey; a passkey added is mailed, and "I did not do this" removes
    it and signs every session out."""
    clock = FrozenClock()
    with run_localhost_hub(database_url, tmp_path, app_with_clock(clock)) as hub, chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()
        with_authenticator(page)
        password_sign_in(page, hub)
        page.wait_for_url("**/account")
        clock.advance(hub.settings.reauth_max_age + 1)
        page.goto(f"{hub.url}/account")
        page.fill("#passkey-name", "Laptop Asing")
        page.click("#passkey-add")
        page.wait_for_url("**/auth/login?reauth=1")
        expect(page.locator("#reauth-notice")).to_be_visible()
        expect(page.locator("#login")).to_have_value(WARGA)
        assert rows(hub.settings.database_url, Passkey) == []
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        page.wait_for_url("**/account")
        page.fill("#passkey-name", "Laptop Asing")
        page.click("#passkey-add")
        page.wait_for_url("**/account?done=passkey")
        assert len(rows(hub.settings.database_url, Passkey)) == 1

        outbox = hub.settings.effective_mail_outbox
        assert outbox is not None
        [mail] = [m for m in wait_for_messages(outbox, WARGA, 1) if "Cara masuk akun" in m["Subject"]]
        assert "passkey baru ditambahkan" in body_of(mail) and "Laptop Asing" in body_of(mail)
        page.goto(f"{hub.url}{link_in(mail, '/account/undo')}")
        page.click("form[action='/account/undo'] button[type=submit]")
        expect(page.locator("h1")).to_have_text("Akun Anda diamankan")
        assert rows(hub.settings.database_url, Passkey) == []
        page.goto(f"{hub.url}/account")
        expect(page).to_have_url(re.compile("/auth/login"))
