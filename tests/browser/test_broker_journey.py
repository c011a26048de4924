"""A citizen in a real browser signs in to a city app with "Masuk dengan INApas": the upstream's own sign-in page
(a second Gerbang hub stands in for INApas), the confirmation of the new account, back at the app signed in;
then the linked identity on /account."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.broker_pair import NEW_CITIZEN, BrokerPair, run_broker_pair
from tests.support.chromium import chromium
from tests.support.hub import PASSWORD, authorize_url, pkce_pair

pytestmark = pytest.mark.browser


@pytest.fixture
def pair(database_url: str, tmp_path: Path, _sqlite_template: Path) -> Iterator[BrokerPair]:
    upstream_db = tmp_path / "upstream.db"
    shutil.copy(_sqlite_template, upstream_db)
    with run_broker_pair(database_url, f"sqlite+aiosqlite:///{upstream_db}", tmp_path) as running:
        yield running


def test_masuk_dengan_inapas_end_to_end(pair: BrokerPair) -> None:
    client_id, _ = pair.broker.client("Portal Kominfo")
    _, challenge = pkce_pair()
    with chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="aplikasi kota"))
        page.goto(pair.broker.url + authorize_url(client_id, challenge))
        button = page.locator("#upstream-inapas")
        expect(button).to_have_text("Masuk dengan INApas")
        expect(page.locator("#password")).to_be_visible()  # the password form stays beside it
        button.click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(pair.upstream.url)}/auth/login\?"))
        page.fill("#login", NEW_CITIZEN)
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        expect(page.locator("#proposed-email")).to_contain_text(NEW_CITIZEN)
        expect(page.locator("#proposed-name")).to_have_text("Rina Baru")
        page.click("#broker-confirm")
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/cb\?code="))
        assert "iss=" in page.url and "state=st-123" in page.url
        page.goto(f"{pair.broker.url}/account")
        expect(page.locator("#identities .identity")).to_have_count(1)
        expect(page.locator("#identities")).to_contain_text("INApas")


@pytest.fixture
def localhost_pair(database_url: str, tmp_path: Path, _sqlite_template: Path) -> Iterator[BrokerPair]:
    upstream_db = tmp_path / "upstream.db"
    shutil.copy(_sqlite_template, upstream_db)
    with run_broker_pair(
        database_url, f"sqlite+aiosqlite:///{upstream_db}", tmp_path, broker_host="localhost"
    ) as running:
        yield running


def test_linking_proven_with_the_accounts_passkey(localhost_pair: BrokerPair) -> None:
    """Siti has a hub account with a passkey; her INApas identity links once she uses that passkey."""
    from idp.storage.models import FederatedIdentity
    from tests.support.eventually import eventually
    from tests.support.records import rows

    pair = localhost_pair
    client_id, _ = pair.broker.client("Portal Kominfo")
    _, challenge = pkce_pair()
    with chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()
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
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="aplikasi kota"))
        page.goto(f"{pair.broker.url}/auth/login")
        page.fill("#login", "warga@example.id")
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        page.fill("#passkey-name", "Ponsel Siti")
        page.click("#passkey-add")
        page.wait_for_url("**/account?done=passkey")
        page.click("form[action='/auth/logout'] button")
        page.wait_for_url("**/auth/logout")

        page.goto(pair.broker.url + authorize_url(client_id, challenge))
        page.click("#upstream-inapas")
        page.wait_for_url(re.compile(rf"^{re.escape(pair.upstream.url)}/auth/login\?"))
        page.fill("#login", "warga@example.id")
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        expect(page.locator("#existing-account")).to_be_visible()
        assert rows(pair.broker.settings.database_url, FederatedIdentity) == []
        page.click("#passkey-link")  # then on to the app (127.0.0.1:9, which Chromium refuses to open from here)
        eventually(lambda: len(rows(pair.broker.settings.database_url, FederatedIdentity)) == 1)
        [identity] = rows(pair.broker.settings.database_url, FederatedIdentity)
        assert identity.user_id == pair.broker.seeded.users["warga@example.id"]
        account = page.context.new_page()  # the same browser: its new hub session
        account.goto(f"{pair.broker.url}/account")
        expect(account.locator("#identities .identity")).to_have_count(1)
        expect(account.locator("#session-acr")).to_have_text("1", use_inner_text=True)  # upstream level, unmapped
