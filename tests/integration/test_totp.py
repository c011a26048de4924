"""TOTP enrolment, sign-in with a second factor, replay refusal, recovery codes, step-up; both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from idp.app import create_app
from idp.clock import FrozenClock
from idp.storage.models import RecoveryCode
from tests.support.account_flows import is_signed_in
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, csrf_from, pkce_pair, query_of, run_hub
from tests.support.records import rows, user_by_email
from tests.support.totp_steps import answer_mfa, code_at, enrol_totp, sign_in_directly

WARGA = "warga@example.id"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000)  # far ahead of the seed; a step boundary: codes change every 30 s


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=lambda s: create_app(s, clock=clock)) as running:
        yield running


def enrolled(hub: Hub, clock: FrozenClock) -> tuple[str, list[str]]:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    secret, codes = enrol_totp(browser, clock)
    browser.close()
    clock.advance(30)  # the enrolment code's step is used up
    return secret, codes


def password_step(hub: Hub, browser: Browser, client: str = "Portal Kominfo", **extra: str) -> tuple[str, str]:
    """Start an authorization and give the password; returns (client_id, code_verifier)."""
    client_id, _secret = hub.client(client)
    verifier, challenge = pkce_pair()
    page = browser.go(authorize_url(client_id, challenge, **extra))
    after = browser.login(page, WARGA)
    assert after.status_code == 200 and "/auth/mfa" in str(after.url), after.text
    return client_id, verifier


def redeem(hub: Hub, client_id: str, verifier: str, location: str) -> dict[str, object]:
    _id, secret = hub.seeded.clients["Portal Kominfo"]
    token = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    return jwt.decode(token.json()["id_token"], options={"verify_signature": False})


def test_enrolment_shows_qr_and_seals_the_secret(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    page = browser.go("/account/totp")
    assert "<svg " in page.text and "data:" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    again = browser.go("/account/totp")  # a reload keeps the same secret
    assert (
        csrf_from(again.text)
        and again.text.split('id="totp-secret">')[1][:32] == page.text.split('id="totp-secret">')[1][:32]
    )
    wrong = browser.submit("/account/totp", {"code": "000000", "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 400 and "Kode salah" in wrong.text
    secret, codes = enrol_totp(browser, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    user = user_by_email(hub.settings.database_url, WARGA)
    assert user is not None and user.totp_secret is not None and user.totp_secret.startswith("v1.")
    assert secret not in user.totp_secret and user.totp_pending_secret is None
    stored = rows(hub.settings.database_url, RecoveryCode, RecoveryCode.user_id == user.id)
    assert len(stored) == 10 and not {r.code_digest for r in stored} & set(codes)
    assert "aktif" in browser.go("/account").text


def test_sign_in_with_totp_gives_level_two(hub: Hub, clock: FrozenClock) -> None:
    secret, _codes = enrolled(hub, clock)
    browser = Browser(hub)
    client_id, verifier = password_step(hub, browser)
    assert not is_signed_in(browser)  # nothing before the second factor
    done = answer_mfa(browser, code_at(secret, clock.now()))
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    claims = redeem(hub, client_id, verifier, done.headers["location"])  # type: ignore[attr-defined]
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp"]


def test_a_totp_code_works_once(hub: Hub, clock: FrozenClock) -> None:
    secret, _codes = enrolled(hub, clock)
    code = code_at(secret, clock.now())
    first = Browser(hub)
    password_step(hub, first)
    assert answer_mfa(first, code).status_code == 303  # type: ignore[attr-defined]
    thief = Browser(hub)
    password_step(hub, thief)
    replay = answer_mfa(thief, code)
    assert replay.status_code == 400 and "sudah dipakai" in replay.text  # type: ignore[attr-defined]
    # An earlier step's code is refused too (the last accepted step only moves forward).
    assert answer_mfa(thief, code_at(secret, clock.now() - 30)).status_code == 400  # type: ignore[attr-defined]
    clock.advance(30)
    assert answer_mfa(thief, code_at(secret, clock.now())).status_code == 303  # type: ignore[attr-defined]


def test_recovery_code_works_once(hub: Hub, clock: FrozenClock) -> None:
    _secret, codes = enrolled(hub, clock)
    browser = Browser(hub)
    client_id, verifier = password_step(hub, browser)
    done = answer_mfa(browser, codes[0].upper(), method="recovery")
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert redeem(hub, client_id, verifier, done.headers["location"])["acr"] == "2"  # type: ignore[attr-defined]
    other = Browser(hub)
    password_step(hub, other)
    assert answer_mfa(other, codes[0], method="recovery").status_code == 400  # type: ignore[attr-defined]
    assert answer_mfa(other, codes[1], method="recovery").status_code == 303  # type: ignore[attr-defined]


def test_wrong_codes_end_the_attempt(hub: Hub, clock: FrozenClock) -> None:
    secret, _codes = enrolled(hub, clock)
    browser = Browser(hub)
    password_step(hub, browser)
    for _ in range(4):
        assert answer_mfa(browser, "123456").status_code == 400  # type: ignore[attr-defined]
    page = browser.go("/auth/mfa")
    last = browser.submit("/auth/mfa", {"code": "123456", "method": "totp", "csrf_token": csrf_from(page.text)})
    assert last.status_code == 400 and "kedaluwarsa" in last.text
    assert browser.go("/auth/mfa").status_code == 400  # even the right code now needs the password again
    assert not is_signed_in(browser)
    assert code_at(secret, clock.now())


def test_second_factor_step_expires(hub: Hub, clock: FrozenClock) -> None:
    secret, _codes = enrolled(hub, clock)
    browser = Browser(hub)
    password_step(hub, browser)
    page = browser.go("/auth/mfa")
    clock.advance(hub.settings.second_factor_ttl + 1)
    late = browser.submit(
        "/auth/mfa", {"code": code_at(secret, clock.now()), "method": "totp", "csrf_token": csrf_from(page.text)}
    )
    assert late.status_code == 400 and not is_signed_in(browser)


def test_acr_values_two_steps_up_a_password_session(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)  # level 1
    secret, _codes = enrol_totp(browser, clock)  # the session stays at level 1
    clock.advance(30)
    client_id, _ = hub.client("Portal Kominfo")
    verifier, challenge = pkce_pair()
    silent = browser.go(authorize_url(client_id, challenge, acr_values="2", prompt="none"))
    assert query_of(silent.headers["location"])["error"] == "interaction_required"
    page = browser.go(authorize_url(client_id, challenge, acr_values="2"))
    assert page.status_code == 200 and str(page.url.path) == "/auth/mfa", page.text
    done = browser.submit(
        "/auth/mfa", {"code": code_at(secret, clock.now()), "method": "totp", "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 303, done.text
    claims = redeem(hub, client_id, verifier, done.headers["location"])
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp"]
    assert 'id="session-acr">2<' in browser.go("/account").text


def test_turning_totp_off_needs_a_current_code(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    secret, _codes = enrol_totp(browser, clock)
    clock.advance(30)
    page = browser.go("/account")
    refused = browser.submit("/account/totp/disable", {"code": "000000", "csrf_token": csrf_from(page.text)})
    assert "Kode salah" in refused.text
    assert user_by_email(hub.settings.database_url, WARGA).totp_secret is not None  # type: ignore[union-attr]
    browser.submit("/account/totp/disable", {"code": code_at(secret, clock.now()), "csrf_token": csrf_from(page.text)})
    user = user_by_email(hub.settings.database_url, WARGA)
    assert user is not None and user.totp_secret is None
    assert rows(hub.settings.database_url, RecoveryCode, RecoveryCode.user_id == user.id) == []
    fresh = Browser(hub)
    sign_in_directly(fresh, WARGA, PASSWORD)
    assert is_signed_in(fresh)  # password alone again


def test_a_lost_phone_recovery_code_turns_totp_off(hub: Hub, clock: FrozenClock) -> None:
    _secret, codes = enrolled(hub, clock)
    browser = Browser(hub)
    password_step(hub, browser)
    assert answer_mfa(browser, codes[0], method="recovery").status_code == 303  # type: ignore[attr-defined]
    page = browser.go("/account")
    used = browser.submit("/account/totp/disable", {"code": codes[0], "csrf_token": csrf_from(page.text)})
    assert "Kode salah" in used.text  # that code is spent
    browser.submit("/account/totp/disable", {"code": codes[1], "csrf_token": csrf_from(page.text)})
    assert user_by_email(hub.settings.database_url, WARGA).totp_secret is None  # type: ignore[union-attr]
