"""A citizen in a real browser uses her data rights: downloads her data, withdraws an app's consent (the app is
told by back-channel logout), and deletes her account with her password."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import expect

from idp.clock import FrozenClock
from idp.storage.models import Client, Consent, User
from tests.support.chromium import chromium, run_localhost_hub
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Hub, authorize_url, pkce_pair
from tests.support.records import rows, update_row
from tests.support.relying_party import RelyingParty
from tests.support.server import run_server

pytestmark = pytest.mark.browser
WARGA = "warga@example.id"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_localhost_hub(database_url, tmp_path, app_with_clock(FrozenClock())) as running:
        yield running


def test_download_withdraw_and_delete(hub: Hub, tmp_path: Path) -> None:
    party = RelyingParty()
    client_id, _ = hub.client("Parkir Dishub")
    url = hub.settings.database_url
    with run_server(party.app()) as rp_url, chromium() as browser:
        client_pk = rows(url, Client, Client.client_id == client_id)[0].id
        update_row(url, Client, client_pk, backchannel_logout_uri=f"{rp_url}/backchannel-logout")
        page = browser.new_context(locale="id-ID", accept_downloads=True).new_page()
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="app"))
        _verifier, challenge = pkce_pair()
        page.goto(hub.url + authorize_url(client_id, challenge))
        page.fill("#login", WARGA)
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        page.click("button[value=allow]")
        page.wait_for_url("http://127.0.0.1:9/cb?**")

        page.goto(f"{hub.url}/account")
        page.click("#privacy-link")
        expect(page.locator("h1")).to_have_text("Data & privasi", use_inner_text=True)
        expect(page.locator('tr.security-event[data-kind="login.succeeded"]')).to_have_count(1)
        with page.expect_download() as waiting:
            page.click("#data-download")
        saved = tmp_path / "data.json"
        waiting.value.save_as(saved)
        data = json.loads(saved.read_text())
        assert data["profile"]["email"] == WARGA and [c["app"] for c in data["consents"]] == ["Parkir Dishub"]

        page.goto(f"{hub.url}/account")
        page.click("#apps button.withdraw")
        expect(page.locator("#message")).to_contain_text("Persetujuan ditarik")
        [token] = party.wait_for(1)
        assert jwt.decode(token, options={"verify_signature": False})["aud"] == client_id
        assert rows(url, Consent) == []

        page.goto(f"{hub.url}/account/privacy")
        page.fill("#delete-password", "bukan-kata-sandi")
        page.click("#delete-submit")
        expect(page.locator("#message")).to_contain_text("Kata sandi salah")
        page.fill("#delete-password", PASSWORD)
        page.click("#delete-submit")
        expect(page.locator("h1")).to_have_text("Akun akan dihapus", use_inner_text=True)
        [user] = rows(url, User, User.email == WARGA)
        assert user.disabled and user.erase_after is not None
        page.goto(f"{hub.url}/account")
        expect(page).to_have_url(re.compile("/auth/login"))
