"""Signing out in a real browser reaches a relying party's back-channel logout endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from idp.clock import FrozenClock
from idp.storage.models import Client
from tests.support.chromium import chromium, run_localhost_hub
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Hub, authorize_url, pkce_pair
from tests.support.records import rows, update_row
from tests.support.relying_party import RelyingParty
from tests.support.server import run_server

pytestmark = pytest.mark.browser


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_localhost_hub(database_url, tmp_path, app_with_clock(FrozenClock())) as running:
        yield running


def test_browser_logout_reaches_the_relying_party(hub: Hub) -> None:
    party = RelyingParty()
    client_id, _ = hub.client("Parkir Dishub")
    with run_server(party.app()) as rp_url, chromium() as browser:
        client_pk = rows(hub.settings.database_url, Client, Client.client_id == client_id)[0].id
        update_row(hub.settings.database_url, Client, client_pk, backchannel_logout_uri=f"{rp_url}/backchannel-logout")
        page = browser.new_context(locale="id-ID").new_page()
        # The client's redirect URI (port 9) is answered by the test, standing in for the app's front end.
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="app"))
        _verifier, challenge = pkce_pair()
        page.goto(hub.url + authorize_url(client_id, challenge))
        page.fill("#login", "warga@example.id")
        page.fill("#password", PASSWORD)
        page.click("form[action='/auth/login'] button[type=submit]")
        page.click("button[value=allow]")
        page.wait_for_url("http://127.0.0.1:9/cb?**")
        page.goto(f"{hub.url}/account")
        page.click("form[action='/auth/logout'] button")
        page.wait_for_url("**/auth/logout")
        [token] = party.wait_for(1)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["aud"] == client_id and claims["iss"] == hub.url
