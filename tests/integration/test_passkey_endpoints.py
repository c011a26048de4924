"""The passkey JSON endpoints refuse what a browser ceremony would never send (the happy paths run in
tests/browser/test_passkeys.py with a virtual authenticator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub import Browser, Hub, csrf_from, run_hub
from tests.support.totp_steps import sign_in_directly


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path) as running:
        yield running


def test_passkey_endpoints_refuse_bad_requests(hub: Hub) -> None:
    browser = Browser(hub)
    token = csrf_from(browser.go("/auth/login").text)
    assert browser.http.post("/auth/passkey/options", data={"purpose": "login"}).status_code == 415
    assert browser.http.post("/auth/passkey/options", json={"purpose": "login"}).status_code == 403
    assert browser.http.post("/auth/passkey/options", json={"purpose": "admin", "csrf_token": token}).status_code == 400
    # "second" needs a password-verified login waiting for its second factor.
    assert (
        browser.http.post("/auth/passkey/options", json={"purpose": "second", "csrf_token": token}).status_code == 401
    )
    options = browser.http.post("/auth/passkey/options", json={"purpose": "login", "csrf_token": token})
    assert options.status_code == 200 and options.json()["userVerification"] == "required"
    assert options.json()["rpId"] == "127.0.0.1" and options.headers["cache-control"] == "no-store"
    forged = {
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"},
    }
    refused = browser.http.post("/auth/passkey", json={"purpose": "login", "csrf_token": token, "credential": forged})
    assert refused.status_code == 400 and refused.json() == {"error": "passkey_rejected"}
    # The ceremony was used up by that attempt: another try without new options has nothing to answer.
    again = browser.http.post("/auth/passkey", json={"purpose": "login", "csrf_token": token, "credential": forged})
    assert again.status_code == 400
    assert browser.http.get("/account").status_code == 303


def test_adding_a_passkey_needs_a_session_and_a_ceremony(hub: Hub) -> None:
    browser = Browser(hub)
    token = csrf_from(browser.go("/auth/login").text)
    assert browser.http.post("/account/passkeys/options", json={"csrf_token": token}).status_code == 401
    sign_in_directly(browser, "warga@example.id")
    token = csrf_from(browser.go("/account").text)
    options = browser.http.post("/account/passkeys/options", json={"csrf_token": token}).json()
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["user"]["name"] == "warga@example.id"
    refused = browser.http.post("/account/passkeys", json={"csrf_token": token, "credential": {"id": "x"}})
    assert refused.status_code == 400
