"""`session` apps: the gateway signs the citizen in once (as the provider's relying party) for every app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.app import create_app
from gateway.apps import add_app
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from idp.storage.db import build_engine, build_sessionmaker
from idp.clock import FrozenClock
from tests.support.clock import app_with_clock
from tests.support.hub import Browser, Hub, csrf_from, run_hub
from tests.support.server import run_server
from tests.support.totp_steps import code_at, enrol_totp, sign_in_directly
from tests.support.upstream import Upstream


async def register(database_url: str, issuer: str, apps: dict[str, str]) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        for slug, upstream in apps.items():
            await add_app(session, addresses=TEST_UPSTREAM_ADDRESSES, slug=slug, opd_slug="dishub", upstreams=(upstream,), auth_mode="session",
                          issuer=issuer, now=int(time.time()))
    await engine.dispose()


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, Browser]]:
    with run_server(Upstream("parkir")) as parkir, run_server(Upstream("cctv")) as cctv:
        with run_hub(database_url, tmp_path, app_factory=create_app) as hub:
            asyncio.run(register(database_url, hub.url, {"parkir": parkir, "cctv": cctv}))
            deadline = time.monotonic() + 10  # the registry refreshes in the background
            while httpx.get(f"{hub.url}/apps/parkir/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            browser = Browser(hub)
            yield hub, browser
            browser.close()


def identity_seen_by(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    headers = dict((k, v) for k, v in json.loads(response.text)["headers"])
    assert "gerbang_gw" not in headers.get("cookie", "") and "gerbang_session" not in headers.get("cookie", "")
    return jwt.decode(headers["x-gerbang-assertion"], options={"verify_signature": False})


def test_one_login_opens_two_apps_and_logout_ends_both(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    page = browser.go("/apps/parkir/echo?x=1")
    assert page.status_code == 200 and 'name="password"' in page.text  # the provider's login page
    landed = browser.login(page, "asn@dishub.example.id")
    parkir = identity_seen_by(landed)
    assert parkir["sub"] == hub.seeded.users["asn@dishub.example.id"]
    assert parkir["aud"] == f"{hub.url}/apps/parkir/" and parkir["opd"] == "dishub"
    assert "operator" in parkir["roles"]
    cctv = identity_seen_by(browser.go("/apps/cctv/echo"))  # no second login
    assert cctv["sub"] == parkir["sub"] and cctv["aud"] == f"{hub.url}/apps/cctv/"
    out = browser.go("/gateway/logout")
    assert out.status_code == 200  # the provider's "signed out" page
    for app in ("parkir", "cctv"):
        again = browser.http.get(f"/apps/{app}/echo")
        assert again.status_code == 303 and again.headers["location"].startswith("/gateway/login")


def test_provider_logout_ends_the_gateway_session_too(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    browser.login(browser.go("/apps/parkir/echo"), "warga@example.id")
    page = browser.http.get("/auth/logout")
    browser.http.post("/auth/logout", data={"csrf_token": csrf_from(page.text)})
    assert browser.http.get("/apps/parkir/echo").status_code == 303


def test_callback_refuses_a_forged_state(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    browser.http.get("/gateway/login?return_to=/apps/parkir/")
    response = browser.http.get("/gateway/callback", params={"code": "x", "state": "forged", "iss": hub.url})
    assert response.status_code == 400


def test_login_never_returns_outside_the_apps(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    for target in ("https://evil.example/", "//evil.example/", "/auth/token", "/apps/../auth"):
        response = browser.http.get("/gateway/login", params={"return_to": target})
        assert response.status_code == 303
        flow = browser.http.cookies.get("gerbang_gw_flow")
        assert flow and "evil" not in flow


@pytest.fixture
def stepped_city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, FrozenClock]]:
    """Parkir needs acr 2 (a second factor) by policy; the clock is frozen so TOTP codes are known."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "apps.yaml").write_text('apps:\n  - slug: parkir\n    require_acr: "2"\n')
    clock = FrozenClock()  # brought up to the real time after the seed: sessions never predate a password
    with run_server(Upstream("parkir")) as parkir:
        with run_hub(database_url, tmp_path, app_factory=app_with_clock(clock, create_app),
                     policy_dir=policy_dir) as hub:
            asyncio.run(register(database_url, hub.url, {"parkir": parkir}))
            deadline = time.monotonic() + 10
            while httpx.get(f"{hub.url}/apps/parkir/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield hub, clock


def test_a_level_two_app_steps_the_session_up_with_totp_and_comes_back(
        stepped_city: tuple[Hub, FrozenClock]) -> None:
    hub, clock = stepped_city
    browser = Browser(hub)
    sign_in_directly(browser, "warga@example.id")
    secret, _ = enrol_totp(browser, clock)
    clock.advance(30)
    page = browser.go("/apps/parkir/echo")
    assert page.status_code == 200 and "/auth/mfa" in str(page.url), page.text  # asked for the second factor
    done = browser.submit(str(page.url.path), {"code": code_at(secret, clock.now()), "method": "totp",
                                                "csrf_token": csrf_from(page.text)})
    seen = identity_seen_by(done)
    assert seen["acr"] == "2" and seen["sub"] == hub.seeded.users["warga@example.id"]
    browser.close()


def test_a_level_two_app_without_a_second_factor_explains_instead_of_looping(
        stepped_city: tuple[Hub, FrozenClock]) -> None:
    hub, _clock = stepped_city
    browser = Browser(hub)
    landed = browser.login(browser.go("/apps/parkir/echo"), "asn@dishub.example.id")
    assert landed.status_code == 403 and "verifikasi dua langkah" in landed.text
    browser.close()
