"""Authorization code + PKCE against a real provider on loopback, both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.hub import Browser, Hub, authorize_url, pkce_pair, query_of, run_hub


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path) as running:
        yield running


def test_code_flow_with_pkce_issues_tokens_and_userinfo(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    verifier, challenge = pkce_pair()
    browser = Browser(hub)
    page = browser.go(authorize_url(client_id, challenge))
    assert page.status_code == 200 and "csrf_token" in page.text
    consent = browser.login(page, "warga@example.id")
    assert consent.status_code == 200 and "Izinkan" in consent.text
    done = browser.consent(consent)
    assert done.status_code == 303
    params = query_of(done.headers["location"])
    assert params["state"] == "st-123" and params["iss"] == hub.url
    token = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert token.headers["cache-control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["aud"] == client_id and claims["iss"] == hub.url and claims["acr"] == "1"
    info = httpx.get(f"{hub.url}/auth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200 and info.json()["email"] == "warga@example.id"
    browser.close()
