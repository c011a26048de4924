"""Concurrent redemption races, and what a grant limits later requests to (RFC 6749 §6, RFC 8707 §2.2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from tests.support.flows import (
    REDIRECT_URI,
    add_person,
    change_person,
    introspect,
    issue_tokens,
    obtain_code,
    redeem,
    refresh,
    register_client,
    token_request,
    userinfo,
)
from tests.support.hub import Hub, run_hub

APP_A = "http://127.0.0.1:9/apps/parkir/"
APP_B = "http://127.0.0.1:9/apps/retribusi/"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def all_at_once(attempt: Callable[[], httpx.Response], count: int = 5) -> list[httpx.Response]:
    start = threading.Barrier(count)

    def run() -> httpx.Response:
        start.wait(timeout=10)
        return attempt()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


def test_concurrent_redemptions_of_one_code_issue_at_most_one_live_family(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    issued = obtain_code(hub, client_id)
    responses = all_at_once(lambda: redeem(hub, client_id, secret, issued))
    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1, [r.text for r in responses]
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
    # Every loser was a replay of the code: the winner's tokens are revoked with it (RFC 6749 §4.1.2).
    assert introspect(hub, won[0].json()["access_token"]) == {"active": False}
    assert refresh(hub, client_id, secret, won[0].json()["refresh_token"]).status_code == 400


def test_concurrent_refreshes_of_one_token_leave_nothing_usable(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    tokens = issue_tokens(hub, "Parkir Dishub")
    responses = all_at_once(lambda: refresh(hub, client_id, secret, tokens["refresh_token"]))
    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1, [r.text for r in responses]
    assert introspect(hub, won[0].json()["access_token"]) == {"active": False}
    assert refresh(hub, client_id, secret, won[0].json()["refresh_token"]).status_code == 400


def test_refresh_token_is_bound_to_its_client(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    other_id, other_secret = hub.client("Portal Kominfo")
    stolen = refresh(hub, other_id, other_secret, tokens["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert introspect(hub, tokens["refresh_token"])["active"] is True


def test_refresh_may_narrow_scope_but_never_widen_it(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    tokens = issue_tokens(hub, "Parkir Dishub", scope="openid profile")
    wider = token_request(
        hub,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid profile email"},
        auth=(client_id, secret),
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrower = token_request(
        hub,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid"},
        auth=(client_id, secret),
    )
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"


def test_resource_named_at_authorization_becomes_aud_and_cannot_widen_at_token(hub: Hub) -> None:
    client_id, secret = register_client(
        hub, name="Parkir Elektronik", redirect_uris=(REDIRECT_URI,), scope="openid profile", resources=(APP_A, APP_B)
    )
    issued = obtain_code(hub, client_id, scope="openid", resource=APP_A)
    response = redeem(hub, client_id, secret, issued)
    assert response.status_code == 200, response.text
    assert jwt.decode(response.json()["access_token"], options={"verify_signature": False})["aud"] == APP_A

    issued = obtain_code(hub, client_id, scope="openid", resource=APP_A)
    widened = redeem(hub, client_id, secret, issued, resource=APP_B)
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"


@pytest.mark.parametrize("change", ["disabled", "password_changed"])
def test_refresh_stops_when_the_account_is_disabled_or_its_password_changes(hub: Hub, change: str) -> None:
    email = f"{change.replace('_', '-')}@example.id"
    add_person(hub, email)
    client_id, secret = hub.client("Parkir Dishub")
    tokens = issue_tokens(hub, "Parkir Dishub", login=email)
    assert refresh(hub, client_id, secret, tokens["refresh_token"]).status_code == 200
    renewed = issue_tokens(hub, "Parkir Dishub", login=email)
    values = {"disabled": True} if change == "disabled" else {"password_changed_at": int(time.time()) + 1}
    change_person(hub, email, **values)
    response = refresh(hub, client_id, secret, renewed["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    if change == "disabled":
        assert userinfo(hub, renewed["access_token"]).status_code == 401
