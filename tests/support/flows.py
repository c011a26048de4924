"""Token-endpoint steps against a running hub: get a code through the real pages, redeem it, inspect tokens."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from idp.accounts import add_user
from idp.clients import add_client
from idp.passwords import hash_sync
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import User
from tests.support.hub import PASSWORD, Browser, Hub, authorize_url, pkce_pair, query_of

REDIRECT_URI = "http://127.0.0.1:9/cb"
ASN = "asn@dishub.example.id"
WARGA = "warga@example.id"


@dataclass(frozen=True)
class IssuedCode:
    code: str
    verifier: str
    nonce: str


SIGNED_IN: dict[tuple[str, str], Browser] = {}  # (hub url, login) -> a browser holding that hub session


def signed_in_browser(hub: Hub, login: str) -> Browser:
    """One browser per hub and person, reused: single sign-on makes later authorizations one request."""
    browser = SIGNED_IN.get((hub.url, login))
    if browser is None:
        browser = SIGNED_IN[(hub.url, login)] = Browser(hub)
    return browser


def obtain_code(
    hub: Hub, client_id: str, *, login: str = WARGA, scope: str = "openid profile email", **extra: str
) -> IssuedCode:
    """Authorize through the provider's own pages (signing in and consenting when asked); return the code."""
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(8)
    browser = signed_in_browser(hub, login)
    done = browser.go(authorize_url(client_id, challenge, scope=scope, nonce=nonce, **extra))
    if done.status_code == 200 and done.url.path == "/auth/login":
        done = browser.login(done, login)
    if done.status_code == 200 and done.url.path == "/auth/consent":
        done = browser.consent(done)
    assert done.status_code == 303, done.text
    params = query_of(done.headers["location"])
    assert "code" in params, params
    return IssuedCode(params["code"], verifier, nonce)


def token_request(
    hub: Hub, data: dict[str, str], *, auth: tuple[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    return httpx.post(f"{hub.url}/auth/token", data=data, auth=auth, timeout=10, **kwargs)


def redeem(hub: Hub, client_id: str, secret: str | None, issued: IssuedCode, **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": issued.verifier,
        **overrides,
    }
    data = {k: v for k, v in data.items() if v != ""}
    if secret is None:
        data["client_id"] = client_id
        return token_request(hub, data)
    return token_request(hub, data, auth=(client_id, secret))


def refresh(hub: Hub, client_id: str, secret: str | None, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if secret is None:
        return token_request(hub, {**data, "client_id": client_id})
    return token_request(hub, data, auth=(client_id, secret))


def issue_tokens(hub: Hub, name: str, **extra: str) -> dict[str, Any]:
    client_id, secret = hub.client(name)
    response = redeem(hub, client_id, secret, obtain_code(hub, client_id, **extra))
    assert response.status_code == 200, response.text
    return response.json()


def introspect(hub: Hub, token: str, name: str = "Parkir Dishub") -> dict[str, Any]:
    client_id, secret = hub.client(name)
    assert secret is not None
    response = httpx.post(f"{hub.url}/auth/introspect", data={"token": token}, auth=(client_id, secret), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(hub: Hub, access_token: str) -> httpx.Response:
    return httpx.get(f"{hub.url}/auth/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def register_client(hub: Hub, **spec: Any) -> tuple[str, str | None]:
    """Register one more client straight into the hub's database (as ``gerbang clients add`` does)."""

    async def add() -> tuple[str, str | None]:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                client, secret = await add_client(session, now=int(time.time()), **spec)
                return client.client_id, secret
        finally:
            await engine.dispose()

    return asyncio.run(add())


def add_person(hub: Hub, email: str) -> None:
    """One more citizen with the seeded password (for tests that change or disable an account)."""

    async def add() -> None:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                await add_user(
                    session, email=email, name="Warga Uji", password_hash=hash_sync(PASSWORD), now=int(time.time())
                )
        finally:
            await engine.dispose()

    asyncio.run(add())


def change_person(hub: Hub, email: str, **values: Any) -> None:
    """Change an account row the way an admin action would (disable, password change)."""

    async def change() -> None:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                await session.execute(update(User).where(User.email == email).values(**values))
        finally:
            await engine.dispose()

    asyncio.run(change())
