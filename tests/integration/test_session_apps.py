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
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.clock import app_with_clock
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Browser, Hub, csrf_from, run_hub
from tests.support.server import run_server
from tests.support.totp_steps import code_at, enrol_totp, sign_in_directly
from tests.support.upstream import Upstream


async def register(database_url: str, issuer: str, apps: dict[str, str]) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        for slug, upstream in apps.items():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug=slug,
                opd_slug="dishub",
                upstreams=(upstream,),
                auth_mode="session",
                issuer=issuer,
                now=int(time.time()),
            )
    await engine.dispose()


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, Browser]]:
    with run_server(Upstream("parkir")) as parkir, run_server(Upstream("cctv")) as cctv:
        with run_hub(database_url, tmp_path, app_factory=create_app) as hub:
            asyncio.run(register(database_url, hub.url, {"parkir": parkir, "cctv": cctv}))
            deadline = time.monotonic() + 10  # the registry refreshes in the background
            while httpx.get(f"{hub.app_url('parkir')}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            browser = Browser(hub)
            yield hub, browser
            browser.close()


def identity_seen_by(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    headers = dict((k, v) for k, v in json.loads(response.text)["headers"])
    assert "gerbang_gw" not in headers.get("cookie", "") and "gerbang_session" not in headers.get("cookie", "")
    return jwt.decode(headers["x-gerbang-assertion"], options={"verify_signature": False})


def test_one_login_opens_two_app_hosts_and_logout_ends_both(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    parkir_url, cctv_url = hub.app_url("parkir"), hub.app_url("cctv")
    page = browser.go(f"{parkir_url}/echo?x=1")
    assert page.status_code == 200 and 'name="password"' in page.text  # the provider's login page, on the hub
    assert page.url.host == "127.0.0.1"
    landed = browser.login(page, "asn@dishub.example.id")
    assert landed.url.host == "parkir.localhost" and landed.url.path == "/echo"
    parkir = identity_seen_by(landed)
    assert parkir["sub"] == hub.seeded.users["asn@dishub.example.id"]
    assert parkir["aud"] == f"{parkir_url}/" and parkir["opd"] == "dishub"
    assert "operator" in parkir["roles"]
    cctv = identity_seen_by(browser.go(f"{cctv_url}/echo"))  # SSO: no second password for the next app host
    assert cctv["sub"] == parkir["sub"] and cctv["aud"] == f"{cctv_url}/"
    # Each app host has its own session cookie, host-only: neither the hub nor the other app ever gets it.
    jar = {(cookie.name, cookie.domain) for cookie in browser.http.cookies.jar}
    assert ("gerbang_gw", "parkir.localhost") in jar and ("gerbang_gw", "cctv.localhost") in jar
    assert not any(cookie.domain_specified for cookie in browser.http.cookies.jar if cookie.name == "gerbang_gw")
    ask = browser.http.get(f"{parkir_url}/.gerbang/logout")  # GET only asks
    assert ask.status_code == 200 and identity_seen_by(browser.go(f"{parkir_url}/echo"))
    out = browser.submit(f"{parkir_url}/.gerbang/logout", {"token": _token(ask.text)})
    assert out.status_code == 200 and out.url.host == "127.0.0.1"  # the provider's "signed out" page
    for url in (parkir_url, cctv_url):
        again = browser.http.get(f"{url}/echo")
        assert again.status_code == 303 and again.headers["location"].startswith("/.gerbang/login")
    assert browser.http.get("/account").status_code in (302, 303)  # the hub session ended too


def _token(page: str) -> str:
    import re

    match = re.search(r'name="token" value="([^"]*)"', page)
    assert match, page
    return match.group(1)


def test_logout_by_get_or_without_the_session_bound_token_ends_nothing(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    parkir_url = hub.app_url("parkir")
    browser.login(browser.go(f"{parkir_url}/echo"), "warga@example.id")
    other = Browser(hub)  # another person's session on the same app: her token is worthless here
    other.login(other.go(f"{parkir_url}/echo"), "asn@dishub.example.id")
    foreign = _token(other.http.get(f"{parkir_url}/.gerbang/logout").text)
    other.close()
    for attempt in (
        lambda: browser.http.get(f"{parkir_url}/.gerbang/logout"),  # a cross-site <img>
        lambda: browser.http.post(f"{parkir_url}/.gerbang/logout", data={"token": foreign}),
        lambda: browser.http.post(f"{parkir_url}/.gerbang/logout", data={}),
    ):
        assert attempt().status_code in (200, 400)
        assert identity_seen_by(browser.http.get(f"{parkir_url}/echo"))["sub"] == hub.seeded.users["warga@example.id"]
    assert browser.http.get("/account").status_code == 200


def test_a_session_cookie_replayed_on_another_app_host_is_worthless(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), "warga@example.id")
    value = browser.http.cookies.get("gerbang_gw", domain="parkir.localhost")
    stolen = httpx.get(f"{hub.app_url('cctv')}/echo", headers={"Cookie": f"gerbang_gw={value}"})
    assert stolen.status_code == 303 and stolen.headers["location"].startswith("/.gerbang/login")
    on_hub = httpx.get(f"{hub.url}/account", headers={"Cookie": f"gerbang_gw={value}"})
    assert on_hub.status_code in (302, 303)


def test_provider_logout_ends_the_gateway_session_too(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), "warga@example.id")
    page = browser.http.get("/auth/logout")
    browser.http.post("/auth/logout", data={"csrf_token": csrf_from(page.text)})
    assert browser.http.get(f"{hub.app_url('parkir')}/echo").status_code == 303


def test_the_hubs_old_app_address_redirects_and_never_proxies(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    old = f"{hub.url}/apps/parkir"  # where apps used to live, on the hub's own origin
    moved = httpx.get(f"{old}/echo?x=1")
    assert moved.status_code == 308 and moved.headers["location"] == f"{hub.app_url('parkir')}/echo?x=1"
    assert httpx.head(f"{old}/").headers["location"] == f"{hub.app_url('parkir')}/"
    posted = httpx.post(f"{old}/echo", content=b"x")
    assert posted.status_code == 404 and hub.app_url("parkir") in posted.json()["detail"]
    assert posted.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{hub.url}/apps/nope/").status_code == 404
    assert httpx.get(f"{hub.app_url('nope')}/").status_code == 404
    assert httpx.get(f"{hub.url}/gateway/login").status_code == 404  # the sign-in lives on each app's host


def test_callback_refuses_a_forged_state(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    parkir_url = hub.app_url("parkir")
    browser.http.get(f"{parkir_url}/.gerbang/login?return_to=/")
    response = browser.http.get(
        f"{parkir_url}/.gerbang/callback", params={"code": "x", "state": "forged", "iss": hub.url}
    )
    assert response.status_code == 400


def test_login_never_returns_outside_the_app(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "/.gerbang/logout"):
        response = browser.http.get(f"{hub.app_url('parkir')}/.gerbang/login", params={"return_to": target})
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"{hub.url}/auth/authorize?")
        flow = browser.http.cookies.get("gerbang_gw_flow", domain="parkir.localhost")
        assert flow and "evil" not in flow and "logout" not in flow


@pytest.fixture
def stepped_city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, FrozenClock]]:
    """Parkir needs acr 2 (a second factor) by policy; the clock is frozen so TOTP codes are known."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "apps.yaml").write_text('apps:\n  - slug: parkir\n    require_acr: "2"\n')
    clock = FrozenClock()  # brought up to the real time after the seed: sessions never predate a password
    with run_server(Upstream("parkir")) as parkir:
        with run_hub(
            database_url, tmp_path, app_factory=app_with_clock(clock, create_app), policy_dir=policy_dir
        ) as hub:
            asyncio.run(register(database_url, hub.url, {"parkir": parkir}))
            deadline = time.monotonic() + 10
            while httpx.get(f"{hub.app_url('parkir')}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield hub, clock


def test_a_level_two_app_steps_the_session_up_with_totp_and_comes_back(stepped_city: tuple[Hub, FrozenClock]) -> None:
    hub, clock = stepped_city
    browser = Browser(hub)
    sign_in_directly(browser, "warga@example.id")
    secret, _ = enrol_totp(browser, clock)
    clock.advance(30)
    page = browser.go(f"{hub.app_url('parkir')}/echo")
    assert page.status_code == 200 and "/auth/mfa" in str(page.url), page.text  # asked for the second factor
    done = browser.submit(
        str(page.url.path), {"code": code_at(secret, clock.now()), "method": "totp", "csrf_token": csrf_from(page.text)}
    )
    seen = identity_seen_by(done)
    assert seen["acr"] == "2" and seen["sub"] == hub.seeded.users["warga@example.id"]
    browser.close()


def test_a_level_two_app_without_a_second_factor_explains_instead_of_looping(
    stepped_city: tuple[Hub, FrozenClock],
) -> None:
    hub, _clock = stepped_city
    browser = Browser(hub)
    landed = browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), "asn@dishub.example.id")
    assert landed.status_code == 403 and "verifikasi dua langkah" in landed.text
    browser.close()


def test_sign_out_everywhere_on_the_account_page_ends_every_app_hosts_session(city: tuple[Hub, Browser]) -> None:
    hub, browser = city
    browser.login(browser.go(f"{hub.app_url('parkir')}/echo"), "warga@example.id")
    assert identity_seen_by(browser.go(f"{hub.app_url('cctv')}/echo"))
    page = browser.go("/account")
    browser.submit("/account/sessions/end-all", {"csrf_token": csrf_from(page.text)})
    for app in ("parkir", "cctv"):
        again = browser.http.get(f"{hub.app_url(app)}/echo")
        assert again.status_code == 303 and again.headers["location"].startswith("/.gerbang/login")
