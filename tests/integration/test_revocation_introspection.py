"""RFC 7009 revocation and RFC 7662 introspection: who may ask, and what each answer reveals or changes."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.support.flows import introspect, issue_tokens, refresh, token_request, userinfo
from tests.support.hub import Hub, run_hub

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def revoke(hub: Hub, token: str, name: str, hint: str | None = None) -> httpx.Response:
    client_id, secret = hub.client(name)
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    if secret is None:
        return httpx.post(f"{hub.url}/auth/revoke", data={**data, "client_id": client_id}, timeout=10)
    return httpx.post(f"{hub.url}/auth/revoke", data=data, auth=(client_id, secret), timeout=10)


def test_revoking_a_refresh_token_ends_its_family(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    response = revoke(hub, tokens["refresh_token"], "Parkir Dishub", "refresh_token")
    assert response.status_code == 200
    assert introspect(hub, tokens["refresh_token"]) == {"active": False}
    assert introspect(hub, tokens["access_token"]) == {"active": False}
    assert userinfo(hub, tokens["access_token"]).status_code == 401
    client_id, secret = hub.client("Parkir Dishub")
    assert refresh(hub, client_id, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_another_client_cannot_revoke_or_read_a_token(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert revoke(hub, token, "Portal Kominfo").status_code == 200  # RFC 7009 §2.2: no oracle
        assert introspect(hub, token, "Portal Kominfo") == {"active": False}
        assert introspect(hub, token)["active"] is True  # untouched for its own client


def test_unknown_token_revocation_is_200(hub: Hub) -> None:
    assert revoke(hub, "never-issued", "Parkir Dishub").status_code == 200
    assert introspect(hub, "never-issued") == {"active": False}


def test_introspection_needs_client_authentication(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    anonymous = httpx.post(f"{hub.url}/auth/introspect", data={"token": tokens["access_token"]}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    client_id, _ = hub.client("Parkir Dishub")
    wrong = httpx.post(
        f"{hub.url}/auth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, "wrong"), timeout=10
    )
    assert wrong.status_code == 401 and "access_token" not in wrong.text


def test_public_client_cannot_introspect(hub: Hub) -> None:
    # RFC 7662 §2.1 wants the caller authorized; a public client proves nothing (discovery says as much).
    tokens = issue_tokens(hub, "Aplikasi Publik", scope="openid profile")
    client_id, _ = hub.client("Aplikasi Publik")
    response = httpx.post(
        f"{hub.url}/auth/introspect", data={"token": tokens["access_token"], "client_id": client_id}, timeout=10
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_public_client_revokes_its_own_refresh_token(hub: Hub) -> None:
    # RFC 7009 §2.1: a public client identifies itself with client_id (e.g. at sign-out).
    tokens = issue_tokens(hub, "Aplikasi Publik", scope="openid profile")
    assert revoke(hub, tokens["refresh_token"], "Aplikasi Publik", "refresh_token").status_code == 200
    client_id, _ = hub.client("Aplikasi Publik")
    assert refresh(hub, client_id, None, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(hub, tokens["access_token"]).status_code == 401


def test_resource_server_introspects_tokens_meant_for_it(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    issued = token_request(hub, {"grant_type": "client_credentials", "resource": RESOURCE}, auth=(client_id, secret))
    access_token = issued.json()["access_token"]
    seen = introspect(hub, access_token, "Bapenda Integrasi")
    assert seen["active"] is True and seen["aud"] == RESOURCE and seen["client_id"] == client_id
    assert introspect(hub, access_token, "Portal Kominfo") == {"active": False}
    assert revoke(hub, access_token, "Bapenda Integrasi", "access_token").status_code == 200
    assert introspect(hub, access_token, "Bapenda Integrasi") == {"active": False}


def test_revoked_access_token_leaves_its_refresh_token(hub: Hub) -> None:
    tokens = issue_tokens(hub, "Parkir Dishub")
    assert revoke(hub, tokens["access_token"], "Parkir Dishub", "access_token").status_code == 200
    assert userinfo(hub, tokens["access_token"]).status_code == 401
    client_id, secret = hub.client("Parkir Dishub")
    renewed = refresh(hub, client_id, secret, tokens["refresh_token"])
    assert renewed.status_code == 200 and userinfo(hub, renewed.json()["access_token"]).status_code == 200


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
def test_undecodable_basic_credentials_are_invalid_client(hub: Hub, endpoint: str) -> None:
    header = "Basic " + base64.b64encode(b"\xff\xfe:secret").decode()
    response = httpx.post(
        f"{hub.url}/auth/{endpoint}", data={"token": "x"}, headers={"Authorization": header}, timeout=10
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
