"""The /account page: profile, password change, connected apps, sessions; both storage backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.clock import FrozenClock
from idp.storage.models import Consent
from tests.support.account_flows import code_flow_tokens, introspect, is_signed_in, refresh
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, csrf_from, pkce_pair, query_of, run_hub
from tests.support.outbox import body_of, link_in, messages_to
from tests.support.records import rows, user_by_email
from tests.support.totp_steps import sign_in_directly

WARGA = "warga@example.id"
NEW_PASSWORD = "pempek kapal selam pedas"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=app_with_clock(clock)) as running:
        yield running


def signed_in(hub: Hub, login: str = WARGA, agent: str = "Peramban Uji") -> Browser:
    browser = Browser(hub)
    browser.http.headers["user-agent"] = agent
    sign_in_directly(browser, login)
    assert is_signed_in(browser)
    return browser


def post(browser: Browser, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    page = browser.go("/account")
    return browser.submit(path, {**data, "csrf_token": csrf_from(page.text)})


def sids(browser: Browser) -> list[str]:
    return re.findall(r'class="session" data-sid="([0-9a-f-]+)"', browser.go("/account").text)


def test_account_needs_a_session(hub: Hub) -> None:
    response = Browser(hub).http.get("/account")
    assert response.status_code == 303 and response.headers["location"] == "/auth/login"


def test_every_change_needs_csrf(hub: Hub) -> None:
    browser = signed_in(hub)
    for path in (
        "/account/profile",
        "/account/password",
        "/account/consents/revoke",
        "/account/sessions/end",
        "/account/sessions/end-all",
        "/account/totp/disable",
    ):
        assert browser.http.post(path, data={"name": "X"}).status_code == 403, path
    assert is_signed_in(browser)


def test_profile_name_change(hub: Hub) -> None:
    browser = signed_in(hub)
    assert post(browser, "/account/profile", {"name": "  Siti   Aisyah "}).status_code == 200
    assert 'id="user-name">Siti Aisyah<' in browser.go("/account").text
    refused = post(browser, "/account/profile", {"name": "   "})
    assert refused.status_code == 400 and 'id="name-error"' in refused.text


def test_password_change_ends_other_sessions_and_tokens(hub: Hub, clock: FrozenClock) -> None:
    other = signed_in(hub, agent="Ponsel")
    tokens = code_flow_tokens(hub, other, WARGA)
    clock.advance(5)
    browser = signed_in(hub)
    wrong = post(
        browser,
        "/account/password",
        {"current_password": "salah sekali", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and 'id="current-error"' in wrong.text
    weak = post(
        browser,
        "/account/password",
        {"current_password": PASSWORD, "password": "12345678", "password_confirm": "12345678"},
    )
    assert weak.status_code == 400 and "terlalu umum" in weak.text
    assert is_signed_in(other)
    done = post(
        browser,
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert done.status_code == 200 and "Kata sandi diganti" in done.text
    assert is_signed_in(browser) and not is_signed_in(other)
    assert len(sids(browser)) == 1
    assert refresh(hub, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert introspect(hub, tokens["access_token"])["active"] is False
    assert any("diganti" in m["Subject"] for m in messages_to(hub.settings.effective_mail_outbox, WARGA))  # type: ignore[arg-type]
    fresh = Browser(hub)
    sign_in_directly(fresh, WARGA, NEW_PASSWORD)
    assert is_signed_in(fresh)


def test_connected_app_revoke(hub: Hub) -> None:
    browser = signed_in(hub)
    tokens = code_flow_tokens(hub, browser, WARGA)
    client_id, _ = hub.client("Parkir Dishub")
    apps = section(browser.go("/account").text, "apps")
    assert "Parkir Dishub" in apps and f'value="{client_id}"' in apps
    post(browser, "/account/consents/revoke", {"client_id": client_id})
    assert "Parkir Dishub" not in section(browser.go("/account").text, "apps")
    user = user_by_email(hub.settings.database_url, WARGA)
    assert user is not None and rows(hub.settings.database_url, Consent, Consent.user_id == user.id) == []
    assert refresh(hub, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert introspect(hub, tokens["access_token"])["active"] is False
    _verifier, challenge = pkce_pair()
    again = browser.go(authorize_url(client_id, challenge))
    assert "/auth/consent" in str(again.url)  # the app must ask again
    assert is_signed_in(browser)


def test_end_one_session(hub: Hub) -> None:
    phone = signed_in(hub, agent="Ponsel Android")
    laptop = signed_in(hub, agent="Laptop Kantor")
    page = laptop.go("/account").text
    assert "Ponsel Android" in page and "Laptop Kantor" in page
    phone_sid = next(sid for sid in sids(laptop) if sid not in sids(phone)[:0] and sid != _own_sid(laptop))
    post(laptop, "/account/sessions/end", {"sid": phone_sid})
    assert not is_signed_in(phone) and is_signed_in(laptop)
    ended_self = post(laptop, "/account/sessions/end", {"sid": _own_sid(laptop)})
    assert ended_self.status_code == 200 and not is_signed_in(laptop)


def test_cannot_end_another_users_session(hub: Hub) -> None:
    asn = signed_in(hub, login="asn@dishub.example.id")
    warga = signed_in(hub)
    post(warga, "/account/sessions/end", {"sid": _own_sid(asn)})
    assert is_signed_in(asn)


def test_sign_out_everywhere(hub: Hub) -> None:
    phone, laptop = signed_in(hub, agent="Ponsel"), signed_in(hub, agent="Laptop")
    tokens = code_flow_tokens(hub, phone, WARGA)
    done = post(laptop, "/account/sessions/end-all", {})
    assert done.status_code == 200 and "keluar" in done.text
    assert not is_signed_in(phone) and not is_signed_in(laptop)
    # The tokens those sessions gave apps end with them (no offline_access asked for: see test_session_bound_refresh).
    assert introspect(hub, tokens["access_token"])["active"] is False
    assert refresh(hub, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">')[1].split("</section>")[0]


def _own_sid(browser: Browser) -> str:
    match = re.search(r'data-sid="([0-9a-f-]+)"><td>[^<]*<strong>', browser.go("/account").text)
    assert match
    return match.group(1)


def test_email_change_is_confirmed_from_the_new_address(hub: Hub) -> None:
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None
    browser = signed_in(hub)
    wrong = post(browser, "/account/email", {"email": "siti.baru@example.id", "current_password": "salah sekali"})
    assert "Kata sandi saat ini salah" in wrong.text and messages_to(outbox, "siti.baru@example.id") == []
    sent = post(browser, "/account/email", {"email": "Siti.Baru@example.id", "current_password": PASSWORD})
    assert "tautan konfirmasi ke alamat baru" in sent.text
    assert user_by_email(hub.settings.database_url, WARGA) is not None  # unchanged until confirmed
    assert any("ganti email" in m["Subject"] for m in messages_to(outbox, WARGA))
    [message] = messages_to(outbox, "siti.baru@example.id")
    link = link_in(message, "/account/email/confirm")
    page = browser.go(link)
    done = browser.submit(
        "/account/email/confirm", {"token": query_of(link)["token"], "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200
    user = user_by_email(hub.settings.database_url, "siti.baru@example.id")
    assert user is not None and user.email_verified
    assert Browser(hub).go(link).status_code == 400  # used
    fresh = Browser(hub)
    sign_in_directly(fresh, "siti.baru@example.id")
    assert is_signed_in(fresh)


def test_email_change_to_a_taken_address_says_nothing_more(hub: Hub) -> None:
    outbox = hub.settings.effective_mail_outbox
    assert outbox is not None
    browser = signed_in(hub)
    taken = post(browser, "/account/email", {"email": "asn@dishub.example.id", "current_password": PASSWORD})
    free = post(browser, "/account/email", {"email": "bebas@example.id", "current_password": PASSWORD})
    assert taken.status_code == free.status_code == 200
    assert taken.text.replace("bebas", "") == free.text.replace("bebas", "")
    [notice] = messages_to(outbox, "asn@dishub.example.id")
    assert "/account/email/confirm" not in body_of(notice)
    assert user_by_email(hub.settings.database_url, WARGA) is not None


def test_access_history_names_the_app_and_its_opd(hub: Hub) -> None:
    browser = signed_in(hub)
    assert "Belum ada aplikasi yang menerima" in browser.go("/account").text
    code_flow_tokens(hub, browser, WARGA)
    code_flow_tokens(hub, browser, WARGA, client="Portal Kominfo")
    history = section(browser.go("/account").text, "history")
    assert history.count('class="access"') == 2
    assert "Parkir Dishub" in history and "Dinas Perhubungan" in history and "Portal Kominfo" in history
    client_id, _ = hub.client("Parkir Dishub")
    post(browser, "/account/consents/revoke", {"client_id": client_id})
    history = section(browser.go("/account").text, "history")
    assert "(dicabut)" in history
