"""Step-up across apps in a real browser: a level-2 app sends a password-only session through a second factor.

Kominfo's policy requires ``acr`` 2 for parkir; the citizen signed in with a password alone (``acr`` 1),
opens parkir through the gateway, is sent to the provider for a TOTP code, and comes back to the app.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pyotp
import pytest
from playwright.sync_api import expect

from gateway.app import create_app
from gateway.apps import add_app
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.browser import agree_to_app
from tests.support.chromium import chromium, run_localhost_hub
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, TEST_UPSTREAM_ADDRESSES, Hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser

WARGA = "warga@example.id"
LEVEL_TWO_PARKIR = 'apps:\n  - slug: parkir\n    require_acr: "2"\n'


async def register_parkir(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="parkir",
            opd_slug="dishub",
            upstreams=(upstream,),
            auth_mode="session",
            issuer=issuer,
            now=int(time.time()),
        )
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "apps.yaml").write_text(LEVEL_TWO_PARKIR)
    with run_server(Upstream("parkir")) as parkir:
        with run_localhost_hub(
            database_url, tmp_path, app_with_clock(clock, create_app), policy_dir=policy_dir
        ) as running:
            asyncio.run(register_parkir(database_url, running.url, parkir))
            deadline = time.monotonic() + 15  # the registry refreshes in the background
            while httpx.get(f"{running.app_url('parkir')}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield running


def test_a_level_two_app_asks_a_password_session_for_totp_and_opens(hub: Hub, clock: FrozenClock) -> None:
    with chromium() as browser:
        page = browser.new_context(locale="id-ID").new_page()
        page.goto(f"{hub.url}/auth/login")
        page.fill("#login", WARGA)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#session-acr")).to_have_text("1", use_inner_text=True)  # password only

        page.click("#totp-setup")
        secret = page.locator("#totp-secret").inner_text()
        page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        page.click("button[type=submit]")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        clock.advance(30)  # the enrolment code's time step is spent
        page.goto(f"{hub.url}/account")
        # turning TOTP on does not raise the session
        expect(page.locator("#session-acr")).to_have_text("1", use_inner_text=True)

        page.goto(f"{hub.app_url('parkir')}/echo")
        agree_to_app(page)  # the hub asks before the app first receives her identity
        expect(page).to_have_url(re.compile("/auth/mfa"))  # the provider asks for the second factor, no password again
        page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
        expect(page.locator("#password")).to_have_count(0)  # checked once the MFA form is there, not before
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.app_url('parkir')}/echo")

        seen = json.loads(page.locator("body").inner_text())
        assert seen["upstream"] == "parkir"
        assertion = dict(seen["headers"])["x-gerbang-assertion"]
        claims = jwt.decode(assertion, options={"verify_signature": False})
        assert claims["acr"] == "2" and claims["sub"] == hub.seeded.users[WARGA]
        page.goto(f"{hub.url}/account")
        # the provider's session was stepped up too
        expect(page.locator("#session-acr")).to_have_text("2", use_inner_text=True)
