"""Whole flows the account tests start from: sign in through a client and get its tokens."""

from __future__ import annotations

import httpx

from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, pkce_pair, query_of


def code_flow_tokens(
    hub: Hub, browser: Browser, login: str, password: str = PASSWORD, client: str = "Parkir Dishub", **extra: str
) -> dict[str, str]:
    """Sign in (if the browser has no session), consent if asked, redeem the code; the token response."""
    client_id, secret = hub.client(client)
    verifier, challenge = pkce_pair()
    page = browser.go(authorize_url(client_id, challenge, **extra))
    if page.status_code == 200 and "/auth/login" in str(page.url):
        page = browser.login(page, login, password)
    if page.status_code == 200 and "/auth/consent" in str(page.url):
        page = browser.consent(page)
    assert page.status_code == 303, page.text
    code = query_of(page.headers["location"])["code"]
    response = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(hub: Hub, refresh_token: str, client: str = "Parkir Dishub") -> httpx.Response:
    client_id, secret = hub.client(client)
    return httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def introspect(hub: Hub, token: str, client: str = "Parkir Dishub") -> dict[str, object]:
    client_id, secret = hub.client(client)
    response = httpx.post(f"{hub.url}/auth/introspect", auth=(client_id, secret or ""), data={"token": token})
    assert response.status_code == 200, response.text
    return response.json()


def is_signed_in(browser: Browser) -> bool:
    return browser.http.get("/account").status_code == 200
