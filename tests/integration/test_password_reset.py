"""Password reset by email; everything obtained with the old password ends. Both storage backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from idp.clock import FrozenClock
from tests.support.account_flows import code_flow_tokens, introspect, is_signed_in, refresh
from tests.support.clock import app_with_clock
from tests.support.hub import Browser, Hub, csrf_from, query_of, run_hub
from tests.support.outbox import body_of, link_in, messages_to, wait_for_messages

NEW_PASSWORD = "sungai musi mengalir tenang"
WARGA = "warga@example.id"


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


def ask_reset(browser: Browser, email: str) -> httpx.Response:
    page = browser.go("/auth/reset")
    return browser.submit("/auth/reset", {"email": email, "csrf_token": csrf_from(page.text)})


def choose(browser: Browser, link: str, password: str = NEW_PASSWORD, confirm: str | None = None) -> httpx.Response:
    page = browser.go(link)
    if page.status_code != 200:
        return page
    return browser.submit(
        "/auth/reset/confirm",
        {
            "token": query_of(link)["token"],
            "password": password,
            "password_confirm": confirm or password,
            "csrf_token": csrf_from(page.text),
        },
    )


def reset_links(hub: Hub, count: int = 1) -> list[str]:
    return [
        link_in(m, "/auth/reset/confirm")
        for m in wait_for_messages(outbox(hub), WARGA, count)
        if "/auth/reset/confirm" in body_of(m)
    ]


def test_reset_ends_sessions_and_tokens(hub: Hub, clock: FrozenClock) -> None:
    signed_in = Browser(hub)
    tokens = code_flow_tokens(hub, signed_in, WARGA)
    assert is_signed_in(signed_in) and introspect(hub, tokens["access_token"])["active"] is True
    clock.advance(5)
    other = Browser(hub)
    sent = ask_reset(other, WARGA)
    assert sent.status_code == 200 and "Jika ada akun" in sent.text
    [link] = reset_links(hub)
    done = choose(other, link)
    assert done.status_code == 200 and "Kata sandi diganti" in done.text
    assert not is_signed_in(signed_in)
    assert refresh(hub, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert introspect(hub, tokens["access_token"])["active"] is False
    changed = [m for m in wait_for_messages(outbox(hub), WARGA, 2) if "diganti" in m["Subject"]]
    assert len(changed) == 1
    # The old password no longer signs in; the new one does.
    fresh = Browser(hub)
    page = fresh.go("/auth/login")
    assert (
        "salah"
        in fresh.submit(
            "/auth/login", {"login": WARGA, "password": "kata-sandi-warga-2026", "csrf_token": csrf_from(page.text)}
        ).text
    )
    page = fresh.go("/auth/login")
    fresh.submit("/auth/login", {"login": WARGA, "password": NEW_PASSWORD, "csrf_token": csrf_from(page.text)})
    assert is_signed_in(fresh)


def test_reset_link_works_once(hub: Hub) -> None:
    browser = Browser(hub)
    ask_reset(browser, WARGA)
    [link] = reset_links(hub)
    assert choose(browser, link).status_code == 200
    again = choose(Browser(hub), link, password="password lain yang panjang")
    assert again.status_code == 400 and "sudah pernah dipakai" in again.text


def test_reset_link_expires(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    ask_reset(browser, WARGA)
    [link] = reset_links(hub)
    clock.advance(hub.settings.reset_link_ttl + 1)
    assert choose(browser, link).status_code == 400


def test_older_links_die_when_the_password_changes(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    ask_reset(browser, WARGA)
    ask_reset(browser, WARGA)
    first, second = reset_links(hub, count=2)
    clock.advance(1)
    assert choose(browser, second).status_code == 200
    assert choose(browser, first, password="password lain yang panjang").status_code == 400


def test_weak_new_password_keeps_the_link(hub: Hub) -> None:
    browser = Browser(hub)
    ask_reset(browser, WARGA)
    [link] = reset_links(hub)
    weak = choose(browser, link, password="password123")
    assert weak.status_code == 400 and "terlalu umum" in weak.text
    mismatch = choose(browser, link, confirm="yang lain sekali")
    assert mismatch.status_code == 400 and "tidak sama" in mismatch.text
    assert choose(browser, link).status_code == 200


def test_same_answer_for_known_and_unknown_addresses(hub: Hub) -> None:
    browser = Browser(hub)
    known = ask_reset(browser, WARGA)
    unknown = ask_reset(browser, "tidak-ada@example.id")
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    assert len(wait_for_messages(outbox(hub), WARGA, 1)) == 1
    assert messages_to(outbox(hub), "tidak-ada@example.id") == []
    token = csrf_from(browser.go("/auth/reset").text)

    def timed(email: str) -> float:
        start = time.perf_counter()
        assert browser.http.post("/auth/reset", data={"email": email, "csrf_token": token}).status_code == 200
        return time.perf_counter() - start

    # Interleaved, and compared by their fastest runs: noise from a loaded machine only ever adds time.
    pairs = [(timed(WARGA), timed(f"acak{i}@example.id")) for i in range(8)]
    fastest_known, fastest_unknown = min(p[0] for p in pairs), min(p[1] for p in pairs)
    # One class: both are a lookup and a page; the mail goes out after the answer, no hash on either path.
    assert abs(fastest_known - fastest_unknown) < 0.01
