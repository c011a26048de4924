"""Enrolling and answering TOTP the way a citizen's authenticator app would."""

from __future__ import annotations

import re

import pyotp

from idp.clock import FrozenClock
from tests.support.hub import PASSWORD, Browser, csrf_from


def sign_in_directly(browser: Browser, login: str, password: str = PASSWORD) -> None:
    page = browser.go("/auth/login")
    browser.submit("/auth/login", {"login": login, "password": password, "csrf_token": csrf_from(page.text)})


def enrol_totp(browser: Browser, clock: FrozenClock) -> tuple[str, list[str]]:
    """Turn TOTP on from /account; returns the secret and the recovery codes shown once."""
    page = browser.go("/account/totp")
    assert page.status_code == 200, page.text
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert match
    secret = match.group(1)
    done = browser.submit("/account/totp", {"code": code_at(secret, clock.now()), "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", done.text)
    return secret, codes


def code_at(secret: str, now: int) -> str:
    return pyotp.TOTP(secret).at(now)


def answer_mfa(browser: Browser, code: str, method: str = "totp") -> object:
    page = browser.go("/auth/mfa")
    assert page.status_code == 200, page.text
    return browser.submit("/auth/mfa", {"code": code, "method": method, "csrf_token": csrf_from(page.text)})
