"""Changing how an account signs in needs a fresh sign-in; every change is mailed with "I did not do this".

The attacker here holds a stolen session cookie (a session older than ``reauth_max_age``) and no password.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.clock import FrozenClock
from tests.support.account_flows import code_flow_tokens, introspect, is_signed_in, refresh
from tests.support.clock import app_with_clock
from tests.support.hub import PASSWORD, Browser, Hub, csrf_from, run_hub
from tests.support.outbox import body_of, link_in, messages_to
from tests.support.records import user_by_email
from tests.support.totp_steps import answer_mfa, code_at, enrol_totp, sign_in_directly

WARGA = "warga@example.id"
NEW_PASSWORD = "pempek kapal selam pedas"
STALE = 301  # just past the default reauth_max_age


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=app_with_clock(clock)) as running:
        yield running


def outbox(hub: Hub) -> Path:
    assert hub.settings.effective_mail_outbox is not None
    return hub.settings.effective_mail_outbox


def signed_in(hub: Hub) -> Browser:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    assert is_signed_in(browser)
    return browser


def changes_mailed(hub: Hub) -> list[str]:
    return [body_of(m) for m in messages_to(outbox(hub), WARGA) if "Cara masuk akun" in m["Subject"]]


CHANGES = [
    ("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
    ("/account/email", {"current_password": PASSWORD, "email": "pencuri@example.id"}),
    ("/account/totp", {"code": "000000"}),
    ("/account/totp/disable", {"code": "000000"}),
    ("/account/recovery-codes", {"code": "000000"}),
    ("/account/passkeys/delete", {"credential_id": "AAAA"}),
]


@pytest.mark.parametrize(("path", "data"), CHANGES, ids=[path for path, _ in CHANGES])
def test_a_stale_session_cannot_change_a_sign_in_method(
    hub: Hub, clock: FrozenClock, path: str, data: dict[str, str]
) -> None:
    browser = signed_in(hub)
    clock.advance(STALE)
    page = browser.go("/account")
    assert page.status_code == 200  # the session itself is fine for everything else
    refused = browser.http.post(path, data={**data, "csrf_token": csrf_from(page.text)})
    assert refused.status_code == 303 and refused.headers["location"] == "/auth/login?reauth=1", path
    user = user_by_email(hub.settings.database_url, WARGA)
    assert user is not None and user.email == WARGA and user.totp_pending_secret is None
    assert messages_to(outbox(hub), "pencuri@example.id") == []
    assert is_signed_in(browser)


def test_a_stale_session_cannot_start_adding_a_passkey_or_an_authenticator(hub: Hub, clock: FrozenClock) -> None:
    browser = signed_in(hub)
    clock.advance(STALE)
    token = csrf_from(browser.go("/account").text)
    for path in ("/account/passkeys/options", "/account/passkeys"):
        refused = browser.http.post(path, json={"csrf_token": token, "credential": {}})
        assert refused.status_code == 401 and refused.json() == {
            "error": "reauth_required",
            "redirect": "/auth/login?reauth=1",
        }, path
    enrol = browser.http.get("/account/totp")
    assert enrol.status_code == 303 and enrol.headers["location"] == "/auth/login?reauth=1"


def test_signing_in_again_comes_back_and_the_change_is_mailed_with_an_undo_link(hub: Hub, clock: FrozenClock) -> None:
    browser = signed_in(hub)
    clock.advance(STALE)
    login = browser.go("/account/totp")
    assert login.url.path == "/auth/login" and 'id="reauth-notice"' in login.text and WARGA in login.text
    back = browser.submit("/auth/login", {"login": WARGA, "password": PASSWORD, "csrf_token": csrf_from(login.text)})
    assert back.status_code == 200 and back.url.path == "/account/totp"
    secret, _codes = enrol_totp(browser, clock)
    [mail] = changes_mailed(hub)
    assert "Aplikasi autentikator diaktifkan" in mail and "An authenticator app was turned on" in mail
    assert "/account/undo?token=" in mail


def test_the_undo_link_ends_every_session_and_token_and_turns_the_stolen_factor_off(
    hub: Hub, clock: FrozenClock
) -> None:
    owner = signed_in(hub)
    owner_tokens = code_flow_tokens(hub, owner, WARGA, client="Parkir Dishub")
    thief = signed_in(hub)  # a fresh session: what a thief who also knows the password would hold
    enrol_totp(thief, clock)
    message = [m for m in messages_to(outbox(hub), WARGA) if "Cara masuk akun" in m["Subject"]][0]
    link = link_in(message, "/account/undo")
    scanner = Browser(hub).go(link)  # a mail scanner fetching the link changes nothing
    assert scanner.status_code == 200 and is_signed_in(thief)
    stranger = Browser(hub)  # the owner, from any browser, signed in or not
    page = stranger.go(link)
    done = stranger.submit("/account/undo", {"token": link.split("token=")[1], "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "Akun Anda diamankan" in done.text
    assert not is_signed_in(thief) and not is_signed_in(owner)
    assert introspect(hub, owner_tokens["access_token"]) == {"active": False}
    assert refresh(hub, owner_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    user = user_by_email(hub.settings.database_url, WARGA)
    assert user is not None and user.totp_secret is None  # the owner can sign in with her password again
    again = Browser(hub)
    sign_in_directly(again, WARGA)
    assert is_signed_in(again)
    used = Browser(hub).go(link)
    assert used.status_code == 400


def test_turning_the_factor_off_and_new_recovery_codes_are_mailed(hub: Hub, clock: FrozenClock) -> None:
    browser = signed_in(hub)
    secret, _codes = enrol_totp(browser, clock)
    clock.advance(31)
    page = browser.go("/account")
    browser.submit(
        "/account/recovery-codes", {"code": code_at(secret, clock.now()), "csrf_token": csrf_from(page.text)}
    )
    clock.advance(31)
    page = browser.go("/account")
    browser.submit("/account/totp/disable", {"code": code_at(secret, clock.now()), "csrf_token": csrf_from(page.text)})
    mails = changes_mailed(hub)
    assert len(mails) == 3
    assert "Kode pemulihan baru" in mails[1] and "dimatikan" in mails[2]
    assert all("/account/undo?token=" in mail for mail in mails)


def test_a_second_factor_account_signs_in_again_with_both_factors(hub: Hub, clock: FrozenClock) -> None:
    browser = signed_in(hub)
    secret, _codes = enrol_totp(browser, clock)
    clock.advance(STALE)
    login = browser.go("/account")
    page = browser.http.post(
        "/account/recovery-codes", data={"code": code_at(secret, clock.now()), "csrf_token": csrf_from(login.text)}
    )
    assert page.headers["location"] == "/auth/login?reauth=1"
    login = browser.go(page.headers["location"])
    browser.submit("/auth/login", {"login": WARGA, "password": PASSWORD, "csrf_token": csrf_from(login.text)})
    clock.advance(31)
    back = answer_mfa(browser, code_at(secret, clock.now()))
    assert back.url.path == "/account"


def test_the_password_and_email_change_mails_carry_the_undo_link(hub: Hub) -> None:
    browser = signed_in(hub)
    page = browser.go("/account")
    browser.submit(
        "/account/email", {"current_password": PASSWORD, "email": "baru@example.id", "csrf_token": csrf_from(page.text)}
    )
    page = browser.go("/account")
    browser.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
    )
    bodies = [body_of(m) for m in messages_to(outbox(hub), WARGA)]
    assert len(bodies) == 2 and all("/account/undo?token=" in body for body in bodies)


def test_an_email_change_is_told_to_the_old_address_which_can_take_it_back(hub: Hub) -> None:
    """Once the address changes, password resets go to the new one: the old address must be able to undo it."""
    browser = signed_in(hub)
    page = browser.go("/account")
    browser.submit(
        "/account/email",
        {"current_password": PASSWORD, "email": "pencuri@example.id", "csrf_token": csrf_from(page.text)},
    )
    confirm = link_in(messages_to(outbox(hub), "pencuri@example.id")[0], "/account/email/confirm")
    page = browser.go(confirm)
    browser.submit("/account/email/confirm", {"token": confirm.split("token=")[1], "csrf_token": csrf_from(page.text)})
    assert user_by_email(hub.settings.database_url, "pencuri@example.id") is not None
    [told] = [m for m in messages_to(outbox(hub), WARGA) if "Cara masuk akun" in m["Subject"]]
    assert "pesan ini dikirim ke alamat lama" in body_of(told)
    owner = Browser(hub)
    link = link_in(told, "/account/undo")
    page = owner.go(link)
    done = owner.submit("/account/undo", {"token": link.split("token=")[1], "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200
    assert user_by_email(hub.settings.database_url, WARGA) is not None
    assert user_by_email(hub.settings.database_url, "pencuri@example.id") is None
    assert not is_signed_in(browser)
