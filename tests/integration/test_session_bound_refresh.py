"""Refresh tokens without ``offline_access`` end with the sign-in that issued them; idle refresh tokens die.

Ways a session ends: RP-initiated logout (GET and POST), "sign out everywhere" and ending one session from
``/account``, or the session expiring / falling idle. Each must take the session's refresh tokens (and the access
tokens of their families) with it, and leave an ``offline_access`` grant alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from idp.clock import FrozenClock
from tests.support.account_flows import code_flow_tokens, introspect, refresh
from tests.support.clock import app_with_clock
from tests.support.flows import register_client
from tests.support.hub import Browser, Hub, csrf_from, run_hub
from tests.support.totp_steps import sign_in_directly

WARGA = "warga@example.id"
REDIRECT = "http://127.0.0.1:9/cb"
IDLE = 3600


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(
        database_url, tmp_path, app_factory=app_with_clock(clock), session_idle_ttl=600, refresh_token_idle_ttl=IDLE
    ) as running:
        running.seeded.clients["Offline"] = register_client(
            running,
            name="Aplikasi Luring",
            redirect_uris=(REDIRECT,),
            first_party=True,
            scope="openid profile email offline_access",
        )
        yield running


def signed_in(hub: Hub) -> Browser:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    return browser


def is_dead(hub: Hub, tokens: dict[str, str], client: str = "Parkir Dishub") -> bool:
    return (
        introspect(hub, tokens["refresh_token"], client) == {"active": False}
        and refresh(hub, tokens["refresh_token"], client).json().get("error") == "invalid_grant"
    )


def both_grants(hub: Hub, browser: Browser) -> tuple[dict[str, str], dict[str, str]]:
    bound = code_flow_tokens(hub, browser, WARGA)
    offline = code_flow_tokens(hub, browser, WARGA, client="Offline", scope="openid offline_access")
    assert introspect(hub, bound["refresh_token"])["active"] is True
    return bound, offline


def test_rp_initiated_logout_by_get_ends_the_sessions_refresh_tokens(hub: Hub) -> None:
    browser = signed_in(hub)
    bound, offline = both_grants(hub, browser)
    out = browser.http.get("/auth/logout", params={"id_token_hint": bound["id_token"]})
    assert out.status_code == 200 and "/account" not in out.text
    assert is_dead(hub, bound)
    assert introspect(hub, bound["access_token"]) == {"active": False}
    survived = refresh(hub, offline["refresh_token"], "Offline")
    assert survived.status_code == 200, survived.text


def test_rp_initiated_logout_by_post_works_for_relying_parties(hub: Hub) -> None:
    """OpenID RP-Initiated Logout 1.0 §3: the RP may POST its form; it carries no CSRF token of ours."""
    browser = signed_in(hub)
    bound, offline = both_grants(hub, browser)
    out = browser.http.post(
        "/auth/logout",
        data={"id_token_hint": bound["id_token"], "state": "s9", "post_logout_redirect_uri": REDIRECT + "/logged-out"},
    )
    assert out.status_code == 303 and out.headers["location"] == REDIRECT + "/logged-out?state=s9"
    assert browser.http.get("/account").status_code == 303
    assert is_dead(hub, bound)
    assert refresh(hub, offline["refresh_token"], "Offline").status_code == 200


def test_a_posted_logout_without_a_hint_asks_and_a_forged_confirmation_is_refused(hub: Hub) -> None:
    browser = signed_in(hub)
    bound, _offline = both_grants(hub, browser)
    asked = browser.http.post("/auth/logout", data={"client_id": hub.client("Parkir Dishub")[0]})
    assert asked.status_code == 200 and 'name="csrf_token"' in asked.text
    forged = browser.http.post("/auth/logout", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert browser.http.get("/account").status_code == 200
    assert refresh(hub, bound["refresh_token"]).status_code == 200


def test_a_csrf_token_is_bound_to_the_session_it_was_shown_in(hub: Hub) -> None:
    browser = signed_in(hub)
    page = browser.http.get("/auth/logout")
    token = csrf_from(page.text)
    other = signed_in(hub)  # another sign-in: a token shown to one session is no good for another
    other.http.cookies.set("gerbang_csrf", browser.http.cookies["gerbang_csrf"])
    assert other.http.post("/auth/logout", data={"csrf_token": token}).status_code == 403
    assert other.http.get("/account").status_code == 200
    assert browser.http.post("/auth/logout", data={"csrf_token": token}).status_code == 200
    assert browser.http.get("/account").status_code == 303


@pytest.mark.parametrize("how", ["everywhere", "this-session"])
def test_signing_out_from_the_account_page_ends_the_refresh_tokens(hub: Hub, how: str) -> None:
    browser = signed_in(hub)
    bound, offline = both_grants(hub, browser)
    page = browser.go("/account")
    if how == "everywhere":
        browser.submit("/account/sessions/end-all", {"csrf_token": csrf_from(page.text)})
    else:
        sid = page.text.split('class="session" data-sid="')[1].split('"')[0]
        browser.submit("/account/sessions/end", {"sid": sid, "csrf_token": csrf_from(page.text)})
    assert is_dead(hub, bound)
    assert refresh(hub, offline["refresh_token"], "Offline").status_code == 200


def test_a_session_that_falls_idle_takes_its_refresh_tokens_and_a_refresh_keeps_it_alive(
    hub: Hub, clock: FrozenClock
) -> None:
    browser = signed_in(hub)
    bound, offline = both_grants(hub, browser)
    clock.advance(500)
    renewed = refresh(hub, bound["refresh_token"])  # a use of the sign-in: the session stays alive
    assert renewed.status_code == 200, renewed.text
    clock.advance(500)
    assert browser.http.get("/account").status_code == 200
    clock.advance(601)  # nothing used the session for longer than session_idle_ttl
    assert is_dead(hub, renewed.json())
    assert refresh(hub, offline["refresh_token"], "Offline").status_code == 200


def test_a_refresh_token_unused_for_the_idle_lifetime_dies(hub: Hub, clock: FrozenClock) -> None:
    browser = signed_in(hub)
    _bound, offline = both_grants(hub, browser)
    clock.advance(IDLE - 10)
    kept = refresh(hub, offline["refresh_token"], "Offline")
    assert kept.status_code == 200
    clock.advance(IDLE + 1)
    assert is_dead(hub, kept.json(), "Offline")


def test_discovery_lists_offline_access(hub: Hub) -> None:
    meta = httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
    assert "offline_access" in meta["scopes_supported"]
