"""A session app receives a person's identity only after she agreed on the hub to the claims it names, and she is
asked again when its claims grow or after she withdrew (``idp.app_agreement``). The sign-in page names the app."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.app_edits import update_app
from gateway.apps import add_app
from idp.profile_rule import ProfileGuard
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.models import AppAgreement, AuthorizationCode
from policies import DEFAULT_POLICY_DIR, load_policy_dir
from tests.support.eventually import eventually
from tests.support.hub import (
    TEST_UPSTREAM_ADDRESSES,
    Browser,
    Hub,
    agreement_form,
    authorize_url,
    csrf_from,
    interaction_from,
    pkce_pair,
    run_hub,
)
from tests.support.records import rows
from tests.support.server import run_server
from tests.support.upstream import Upstream

WARGA = "warga@example.id"


async def _register(hub: Hub, upstream: str) -> None:
    engine = build_engine(hub.settings.database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="parkir",
            name="Parkir Tepi Jalan",
            opd_slug="dishub",
            upstreams=(upstream,),
            auth_mode="session",
            issuer=hub.url,
            now=int(time.time()),
        )
    await engine.dispose()


async def _widen(hub: Hub, claims: list[str]) -> None:
    engine = build_engine(hub.settings.database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        profiles = ProfileGuard(lambda: load_policy_dir(hub.settings.policy_dir or DEFAULT_POLICY_DIR), hub.url, "")
        await update_app(
            session,
            "parkir",
            {"claims": claims},
            issuer=hub.url,
            actor="test",
            now=int(time.time()),
            profiles=profiles,
        )
    await engine.dispose()


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, Upstream]]:
    parkir = Upstream("parkir")
    with run_server(parkir) as upstream, run_hub(database_url, tmp_path, app_factory=create_app) as hub:
        asyncio.run(_register(hub, upstream))
        eventually(lambda: httpx.get(f"{hub.app_url('parkir')}/echo").status_code != 404)
        yield hub, parkir


def _codes_for_the_gateway(hub: Hub) -> list[AuthorizationCode]:
    return rows(hub.settings.database_url, AuthorizationCode, AuthorizationCode.client_id == "gerbang-gateway")


def _claims_listed(page: httpx.Response) -> list[str]:
    return re.findall(r'data-claim="([a-z]+)"', page.text)


def _answer(browser: Browser, page: httpx.Response, decision: str) -> httpx.Response:
    return browser.submit("/auth/consent", agreement_form(page, decision))


def _assertion(page: httpx.Response) -> dict:
    assert page.status_code == 200 and page.url.host == "parkir.localhost", (page.url, page.text[:300])
    headers = dict(json.loads(page.text)["headers"])
    return jwt.decode(headers["x-gerbang-assertion"], options={"verify_signature": False})


def test_the_sign_in_page_names_the_session_app_and_its_opd(city: tuple[Hub, Upstream]) -> None:
    hub, _ = city
    browser = Browser(hub, agree_to_apps=False)
    page = browser.go(f"{hub.app_url('parkir')}/echo")
    assert page.url.host == "127.0.0.1" and page.url.path == "/auth/login"
    assert re.search(r'id="app-name">Parkir Tepi Jalan<', page.text)  # the app, not the gateway's client "Gerbang"
    assert "Dikelola oleh Dinas Perhubungan" in page.text
    english = browser.go(f"{page.url}&lang=en")
    assert "to continue to" in english.text and "Run by Dinas Perhubungan" in english.text
    browser.close()


def test_the_sign_in_page_names_an_oauth_client_and_its_opd(city: tuple[Hub, Upstream]) -> None:
    hub, _ = city
    browser = Browser(hub)
    page = browser.go(authorize_url(hub.client("Parkir Dishub")[0], pkce_pair()[1]))
    assert page.url.path == "/auth/login"
    assert re.search(r'id="app-name">Parkir Dishub<', page.text) and "Dikelola oleh Dinas Perhubungan" in page.text
    browser.close()


def test_the_app_receives_nothing_before_agreement_and_asks_again_when_its_claims_grow(
    city: tuple[Hub, Upstream],
) -> None:
    hub, parkir = city
    browser = Browser(hub, agree_to_apps=False)
    app = f"{hub.app_url('parkir')}/echo"
    asked = browser.login(browser.go(app), WARGA)
    # On the hub's origin, naming the app, its OPD and each claim in plain words.
    assert asked.url.host == "127.0.0.1" and asked.url.path == "/auth/consent" and 'id="app-consent"' in asked.text
    assert "Parkir Tepi Jalan" in asked.text and "Dinas Perhubungan" in asked.text
    assert _claims_listed(asked) == ["name", "opd", "roles", "acr"]  # the default set (idp.app_claims)
    assert "nama lengkap" in asked.text and "Setuju dan lanjutkan" in asked.text
    assert parkir.hits == 0 and _codes_for_the_gateway(hub) == []  # no code, so no session and no assertion
    assert browser.http.get(app).status_code == 303  # the app's host has no session yet

    # A forged agreement (no hub CSRF token, as an app's page would post it) records nothing.
    forged = browser.http.post(
        "/auth/consent", data={"decision": "allow", "interaction": interaction_from(str(asked.url))}
    )
    assert forged.status_code in (400, 403) and rows(hub.settings.database_url, AppAgreement) == []

    declined = _answer(browser, asked, "deny")
    assert declined.status_code == 200 and declined.url.host == "127.0.0.1" and 'id="declined"' in declined.text
    assert parkir.hits == 0 and _codes_for_the_gateway(hub) == []

    again = browser.go(app)  # single sign-on: no password, but the question again
    assert again.url.path == "/auth/consent" and 'id="app-consent"' in again.text
    seen = _assertion(_answer(browser, again, "allow"))
    assert seen["name"] == "Siti Warga" and "email" not in seen
    assert parkir.hits == 1
    assert "/auth/consent" not in str(browser.go(app).url)  # agreed once: not asked on the next visit

    asyncio.run(_widen(hub, ["email", "name", "opd", "roles", "acr"]))  # Kominfo adds the email
    wider = browser.go(app)  # the app's sessions ended with the change: a new sign-in, asked again
    assert wider.url.path == "/auth/consent", wider.url
    assert _claims_listed(wider) == ["email", "name", "opd", "roles", "acr"] and "alamat email" in wider.text
    hits = parkir.hits
    assert browser.http.get(app).status_code == 303 and parkir.hits == hits  # nothing reaches the app meanwhile
    # An answer to the page as it was before the change (the old claims) agrees to nothing: the page asks anew.
    stale = browser.submit("/auth/consent", {**agreement_form(wider, "allow"), "claims": "name opd roles acr"})
    assert stale.url.path == "/auth/consent" and 'data-claim="email"' in stale.text and parkir.hits == hits
    [agreement] = rows(hub.settings.database_url, AppAgreement)
    assert "email" not in agreement.claims
    english = browser.go(f"{wider.url}&lang=en")
    assert "will receive the following about you" in english.text and "email address" in english.text
    _assertion(_answer(browser, wider, "allow"))
    seen = eventually(lambda: (claims := _assertion(browser.go(app))).get("email") and claims)  # registry refresh
    assert seen["email"] == WARGA

    asyncio.run(_widen(hub, ["name"]))  # narrower: nothing new to agree to
    assert _assertion(browser.go(app))["name"] == "Siti Warga"
    browser.close()


async def _release_without_ending_sessions(hub: Hub, claims: list[str]) -> None:
    """What a policy change releasing a claim does: the app's claims grow while its sessions live on."""
    engine = build_engine(hub.settings.database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        app = await session.scalar(select(App).where(App.slug == "parkir"))
        assert app is not None
        app.claims, app.updated_at = claims, app.updated_at + 1
    await engine.dispose()


def test_a_claim_released_after_the_agreement_never_reaches_the_app(city: tuple[Hub, Upstream]) -> None:
    hub, _ = city
    app = f"{hub.app_url('parkir')}/echo"
    warga = Browser(hub)
    assert "email" not in _assertion(warga.login(warga.go(app), WARGA))
    asyncio.run(_release_without_ending_sessions(hub, ["email", "name", "opd", "roles", "acr"]))
    other = Browser(hub)  # signs in afresh and agrees to the wider set: once she gets the email, the gateway has it
    other.login(other.go(app), "asn@dishub.example.id")
    eventually(lambda: "email" in _assertion(other.go(app)))
    seen = _assertion(warga.go(app))  # the first session: only what she agreed to
    assert "email" not in seen and seen["name"] == "Siti Warga"
    warga.close()
    other.close()


def test_withdrawing_on_the_account_page_asks_again_next_time(city: tuple[Hub, Upstream]) -> None:
    hub, _ = city
    browser = Browser(hub)  # agrees when asked
    app = f"{hub.app_url('parkir')}/echo"
    _assertion(browser.login(browser.go(app), WARGA))
    assert len(rows(hub.settings.database_url, AppAgreement)) == 1
    account = eventually(lambda: (page := browser.go("/account")) and 'data-app="parkir"' in page.text and page)
    done = browser.submit("/account/apps/withdraw", {"app": "parkir", "csrf_token": csrf_from(account.text)})
    assert done.status_code in (200, 303)
    assert rows(hub.settings.database_url, AppAgreement) == []
    browser.agree_to_apps = False
    asked = browser.go(app)
    assert asked.url.path == "/auth/consent" and 'id="app-consent"' in asked.text
    browser.close()
