"""Lock-out cannot be used against the owner (OWASP device cookies), and guessing stays slow.

Under the shipped limits (5 attempts at once, then one every 3 minutes per account): a stranger who spends an
account's allowance for unknown browsers does not lock the owner out of a browser she signed in with before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from policies.loader import DEFAULT_POLICY_DIR
from tests.support.account_flows import is_signed_in
from tests.support.hub import PASSWORD, Browser, Hub, csrf_from, run_hub

WARGA = "warga@example.id"
ASN = "asn@dishub.example.id"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, policy_dir=DEFAULT_POLICY_DIR) as running:
        yield running


def attempt(browser: Browser, login: str, password: str) -> httpx.Response:
    page = browser.go("/auth/login")
    return browser.http.post(
        "/auth/login", data={"login": login, "password": password, "csrf_token": csrf_from(page.text)}
    )


def owner_browser(hub: Hub, login: str = WARGA) -> Browser:
    """A browser that signed in once, then signed out: it keeps only its device cookie."""
    browser = Browser(hub)
    assert attempt(browser, login, PASSWORD).status_code == 303
    browser.http.cookies.delete("gerbang_session")
    assert not is_signed_in(browser)
    return browser


def spend_the_unknown_allowance(hub: Hub, login: str = WARGA) -> httpx.Response:
    """Wrong passwords from an unknown browser until refused (the owner's first sign-in spent one too)."""
    stranger = Browser(hub)
    answers = [attempt(stranger, login, f"tebakan-{n}") for n in range(6)]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses and set(statuses[: statuses.index(429)]) == {200}, statuses
    return answers[statuses.index(429)]


def test_a_stranger_cannot_lock_the_owner_out_of_her_own_browser(hub: Hub) -> None:
    owner = owner_browser(hub)
    refused = spend_the_unknown_allowance(hub)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 60
    assert 'id="wait"' in refused.text and "menit" in refused.text  # the citizen sees how long to wait
    # Guessing stays slow: even the right password waits, from any unknown browser.
    assert attempt(Browser(hub), WARGA, PASSWORD).status_code == 429
    assert attempt(owner, WARGA, PASSWORD).status_code == 303
    assert is_signed_in(owner)


def test_a_known_browser_guessing_spends_only_its_own_allowance(hub: Hub) -> None:
    owner = owner_browser(hub)
    answers = [attempt(owner, WARGA, f"lupa-{n}") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert attempt(owner, WARGA, PASSWORD).status_code == 429
    assert attempt(Browser(hub), WARGA, PASSWORD).status_code == 303  # the unknown-browser allowance is untouched


def test_a_forged_or_borrowed_device_cookie_is_an_unknown_browser(hub: Hub) -> None:
    attacker = owner_browser(hub, ASN)  # the attacker's own account gives her a device cookie for that account
    spend_the_unknown_allowance(hub)
    assert attempt(attacker, WARGA, PASSWORD).status_code == 429
    cookie = attacker.http.cookies["gerbang_device"]
    payload, mac = cookie.split(".")
    forged = Browser(hub)
    forged.http.cookies.set("gerbang_device", f"{payload}.{mac[:-1]}{'a' if mac[-1] != 'a' else 'b'}", path="/auth")
    assert attempt(forged, WARGA, PASSWORD).status_code == 429


def test_every_spelling_of_a_login_shares_one_allowance_for_unknown_browsers(hub: Hub) -> None:
    stranger = Browser(hub)
    answers = [
        attempt(stranger, login, "salah-sekali") for login in [WARGA, WARGA.upper(), WARGA, " " + WARGA, WARGA, WARGA]
    ]
    assert answers[-1].status_code == 429


def test_a_stranger_asking_for_reset_mails_does_not_keep_the_owners_browser_from_one(hub: Hub) -> None:
    owner = owner_browser(hub)
    stranger = Browser(hub)
    answers = []
    for _ in range(7):
        page = stranger.go("/auth/reset")
        answers.append(stranger.http.post("/auth/reset", data={"email": WARGA, "csrf_token": csrf_from(page.text)}))
    assert answers[-1].status_code == 429
    page = owner.go("/auth/reset")
    mine = owner.http.post("/auth/reset", data={"email": WARGA, "csrf_token": csrf_from(page.text)})
    assert mine.status_code == 200 and "Periksa email Anda" in mine.text
