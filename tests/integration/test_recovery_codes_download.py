"""Recovery codes can be downloaded as a text file and printed right after they are made, and never later: they are
stored as digests, so the page posts back what it shows and only the person's own fresh unused codes come back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from idp.clock import FrozenClock
from idp.recovery_codes import DOWNLOAD_WINDOW
from tests.support.clock import app_with_clock
from tests.support.hub import Browser, Hub, csrf_from, run_hub
from tests.support.totp_steps import answer_mfa, code_at, sign_in_directly

WARGA = "warga@example.id"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=app_with_clock(clock)) as running:
        yield running


def _enrol(browser: Browser, clock: FrozenClock) -> tuple[str, httpx.Response]:
    page = browser.go("/account/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret, page.text
    shown = browser.submit(
        "/account/totp", {"code": code_at(secret.group(1), clock.now()), "csrf_token": csrf_from(page.text)}
    )
    assert shown.status_code == 200 and 'id="recovery-codes"' in shown.text
    return secret.group(1), shown


def _download(browser: Browser, page: httpx.Response, codes: str) -> httpx.Response:
    return browser.http.post(
        "/account/recovery-codes/download", data={"codes": codes, "csrf_token": csrf_from(page.text)}
    )


def test_the_codes_just_shown_download_as_a_file_and_print(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)
    secret, shown = _enrol(browser, clock)
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", shown.text)
    assert len(codes) == 10
    posted = re.search(r'name="codes" value="([^"]*)"', shown.text)
    assert posted and posted.group(1).split() == codes
    assert 'id="print-codes"' in shown.text and "/auth/static/print.js" in shown.text
    assert "window.print()" in browser.http.get("/auth/static/print.js").text
    assert "@media print" in browser.http.get("/auth/static/gerbang.css").text

    got = _download(browser, shown, posted.group(1))
    assert got.status_code == 200
    assert got.headers["content-disposition"] == 'attachment; filename="gerbang-kode-pemulihan.txt"'
    assert got.headers["cache-control"] == "no-store" and got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    lines = got.text.split("\r\n")
    assert lines[0].startswith("Kode pemulihan Gerbang") and WARGA in lines
    assert [line for line in lines if re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", line)] == codes

    # Nothing else is echoed: made-up text, another person's guess, or a bare form without CSRF.
    assert _download(browser, shown, "abcde-fghij <script>x</script>").status_code == 400
    no_csrf = browser.http.post("/account/recovery-codes/download", data={"codes": posted.group(1)})
    assert no_csrf.status_code in (400, 403) and "attachment" not in no_csrf.headers.get("content-disposition", "")
    stranger = Browser(hub)
    sign_in_directly(stranger, "asn@dishub.example.id")
    account = stranger.go("/account")
    assert _download(stranger, account, posted.group(1)).status_code == 400  # codes of someone else
    stranger.close()

    clock.advance(DOWNLOAD_WINDOW + 1)  # later, even signed in afresh: stored codes are never shown again
    sign_in_directly(browser, WARGA)
    assert answer_mfa(browser, code_at(secret, clock.now())).status_code == 200  # type: ignore[attr-defined]
    account = browser.go("/account")
    assert 'id="session-acr"' in account.text
    late = _download(browser, account, posted.group(1))
    assert late.status_code == 400 and codes[0] not in late.text
    browser.close()
