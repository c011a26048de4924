"""Each hub token works only where its kind belongs, and only while its client stands.

An access token is not an ID token (``id_token_hint`` at authorization and at logout), an ID token is not an
access token (UserInfo, introspection), and a suspended client's live access tokens are refused at UserInfo and
reported inactive by introspection, as the gateway already refuses them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Client
from tests.support.eventually import eventually
from tests.support.flows import (
    WARGA,
    introspect,
    issue_tokens,
    obtain_code,
    redeem,
    register_client,
    signed_in_browser,
    userinfo,
)
from tests.support.hub import Hub, authorize_url, pkce_pair, run_hub

REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def set_client_status(hub: Hub, client_id: str, status: str) -> None:
    async def change() -> None:
        engine = build_engine(hub.settings.effective_database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                await session.execute(update(Client).where(Client.client_id == client_id).values(status=status))
        finally:
            await engine.dispose()

    asyncio.run(change())


def fresh_client_tokens(hub: Hub) -> tuple[str, str, dict[str, str]]:
    client_id, secret = register_client(
        hub, name="Klinik Uji", redirect_uris=(REDIRECT,), first_party=True, scope="openid profile email"
    )
    assert secret is not None
    response = redeem(hub, client_id, secret, obtain_code(hub, client_id))
    assert response.status_code == 200, response.text
    return client_id, secret, response.json()


def introspect_as(hub: Hub, client_id: str, secret: str, token: str) -> dict[str, object]:
    return httpx.post(f"{hub.url}/auth/introspect", data={"token": token}, auth=(client_id, secret), timeout=10).json()


def test_a_suspended_clients_live_tokens_are_refused_at_userinfo_and_inactive_at_introspection(hub: Hub) -> None:
    client_id, secret, tokens = fresh_client_tokens(hub)
    assert userinfo(hub, tokens["access_token"]).status_code == 200
    set_client_status(hub, client_id, "suspended")
    eventually(lambda: userinfo(hub, tokens["access_token"]).status_code == 401)  # client cache: a few seconds
    set_client_status(hub, client_id, "active")
    eventually(lambda: userinfo(hub, tokens["access_token"]).status_code == 200)
    assert introspect_as(hub, client_id, secret, tokens["access_token"])["active"] is True
    assert introspect_as(hub, client_id, secret, tokens["refresh_token"])["active"] is True


def test_introspection_reports_a_suspended_clients_tokens_inactive(hub: Hub) -> None:
    """The resource server (another client whose resources include the token's audience) asks after suspension."""
    client_id, secret, tokens = fresh_client_tokens(hub)
    watcher_id, watcher_secret = register_client(
        hub,
        name="Pengawas",
        grant_types=("client_credentials",),
        redirect_uris=(),
        scope="openid",
        resources=(hub.url,),
    )
    assert watcher_secret is not None
    assert introspect_as(hub, watcher_id, watcher_secret, tokens["access_token"])["active"] is True
    set_client_status(hub, client_id, "suspended")
    eventually(lambda: introspect_as(hub, watcher_id, watcher_secret, tokens["access_token"]) == {"active": False})


def test_an_id_token_is_not_an_access_token(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    assert userinfo(hub, tokens["access_token"]).status_code == 200
    response = userinfo(hub, tokens["id_token"])
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert introspect(hub, tokens["id_token"]) == {"active": False}


def test_an_access_token_is_not_an_id_token_hint_at_authorization(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    client_id, _secret = hub.client("Parkir Dishub")
    browser = signed_in_browser(hub, WARGA)
    _verifier, challenge = pkce_pair()
    honest = browser.http.get(authorize_url(client_id, challenge, id_token_hint=tokens["id_token"], prompt="none"))
    assert honest.status_code == 303 and "code=" in honest.headers["location"]
    for wrong in (tokens["access_token"], tokens["refresh_token"]):
        refused = browser.http.get(authorize_url(client_id, challenge, id_token_hint=wrong, prompt="none"))
        assert refused.status_code == 303 and "error=invalid_request" in refused.headers["location"], wrong


def test_an_access_token_is_not_an_id_token_hint_at_logout(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    browser = signed_in_browser(hub, WARGA)
    # An access token names the same person: taken for an ID token, it would sign her out without asking.
    refused = browser.http.get("/auth/logout", params={"id_token_hint": tokens["access_token"]})
    assert refused.status_code == 400
    assert browser.http.get("/account").status_code == 200  # still signed in
    posted = browser.http.post("/auth/logout", data={"id_token_hint": tokens["access_token"]})
    assert posted.status_code == 400 and browser.http.get("/account").status_code == 200
