"""Token endpoint attacks and edge cases (RFC 6749 §4.1.2, §5.2; RFC 7636; RFC 8707; RFC 9700 §2.2, §4.14).

One hub per module and backend: every test makes its own codes and tokens, so they do not disturb each other.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from idp.app import create_app
from idp.clock import FrozenClock
from idp.settings import Settings
from tests.support.flows import (
    REDIRECT_URI,
    introspect,
    issue_tokens,
    obtain_code,
    redeem,
    refresh,
    register_client,
    token_request,
    userinfo,
)
from tests.support.hub import Hub, authorize_url, pkce_pair, query_of, run_hub

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert "access_token" not in response.json()
    return str(response.json()["error"])


def assert_family_dead(hub: Hub, tokens: dict[str, str], client: str = "Parkir Dishub") -> None:
    client_id, secret = hub.client(client)
    assert introspect(hub, tokens["access_token"]) == {"active": False}
    assert userinfo(hub, tokens["access_token"]).status_code == 401
    assert error_of(refresh(hub, client_id, secret, tokens["refresh_token"])) == "invalid_grant"


# --- authorization codes ---------------------------------------------------------------------------------------


def test_replayed_code_fails_and_revokes_every_token_it_issued(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    issued = obtain_code(hub, client_id)
    first = redeem(hub, client_id, secret, issued)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert introspect(hub, tokens["access_token"])["active"] is True
    assert userinfo(hub, tokens["access_token"]).status_code == 200

    second = redeem(hub, client_id, secret, issued)
    assert second.status_code == 400 and error_of(second) == "invalid_grant"
    assert_family_dead(hub, tokens)


def test_refresh_rotates_on_every_use(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    tokens = issue_tokens(hub, "Parkir Dishub")
    seen = {tokens["refresh_token"]}
    current = tokens["refresh_token"]
    for _ in range(3):
        response = refresh(hub, client_id, secret, current)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["refresh_token"] not in seen
        seen.add(body["refresh_token"])
        assert introspect(hub, current) == {"active": False}  # the rotated one is spent
        current = body["refresh_token"]
        assert userinfo(hub, body["access_token"]).status_code == 200


def test_reused_rotated_refresh_token_revokes_the_whole_family(hub: Hub) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    original = issue_tokens(hub, "Parkir Dishub")
    rotated = refresh(hub, client_id, secret, original["refresh_token"])
    assert rotated.status_code == 200
    newest = rotated.json()
    assert introspect(hub, newest["access_token"])["active"] is True

    replay = refresh(hub, client_id, secret, original["refresh_token"])
    assert replay.status_code == 400 and error_of(replay) == "invalid_grant"
    assert_family_dead(hub, newest)
    assert introspect(hub, original["access_token"]) == {"active": False}
    assert introspect(hub, newest["refresh_token"]) == {"active": False}


def test_code_expires_after_its_lifetime(database_url: str, tmp_path: Path) -> None:
    # The provider's clock is the one thing replaced: codes are made, then time moves past code_ttl (60 s).
    clocks: list[FrozenClock] = []

    def app_factory(settings: Settings) -> object:
        clocks.append(FrozenClock())  # after seeding, never behind the seeded password_changed_at
        return create_app(settings, clock=clocks[0])

    with run_hub(database_url, tmp_path, app_factory=app_factory) as frozen_hub:
        clock = clocks[0]
        client_id, secret = frozen_hub.client("Parkir Dishub")
        in_time, too_late = obtain_code(frozen_hub, client_id), obtain_code(frozen_hub, client_id)
        clock.advance(59)
        assert redeem(frozen_hub, client_id, secret, in_time).status_code == 200
        clock.advance(2)
        response = redeem(frozen_hub, client_id, secret, too_late)
        assert response.status_code == 400 and error_of(response) == "invalid_grant"


@pytest.mark.parametrize("verifier", ["wrong-verifier-" + "x" * 40, "", "short", "x" * 129, "é" * 50])
def test_code_verifier_must_match_the_challenge(hub: Hub, verifier: str) -> None:
    """RFC 7636 §4.6: wrong, missing ("" is left out of the form) or malformed: the grant fails, invalid_grant."""
    client_id, secret = hub.client("Parkir Dishub")
    issued = obtain_code(hub, client_id)
    response = redeem(hub, client_id, secret, issued, code_verifier=verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


def test_code_issued_to_one_client_is_refused_to_another(hub: Hub) -> None:
    issued = obtain_code(hub, hub.client("Parkir Dishub")[0])
    other_id, other_secret = hub.client("Portal Kominfo")
    response = redeem(hub, other_id, other_secret, issued)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:9/cb/", "http://127.0.0.1:9/other", ""])
def test_redirect_uri_at_token_must_equal_the_authorization_one(hub: Hub, redirect_uri: str) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    issued = obtain_code(hub, client_id)
    response = redeem(hub, client_id, secret, issued, redirect_uri=redirect_uri)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    # The failed attempt did not spend the code for its rightful holder.
    assert redeem(hub, client_id, secret, issued).status_code == 200


# --- client authentication --------------------------------------------------------------------------------------


def test_auth_method_is_bound_to_registration(hub: Hub) -> None:
    post_id, post_secret = register_client(
        hub,
        name="Posting Client",
        redirect_uris=(REDIRECT_URI,),
        auth_method="client_secret_post",
        scope="openid profile",
    )
    assert post_secret is not None
    issued = obtain_code(hub, post_id, scope="openid")
    as_basic = redeem(hub, post_id, post_secret, issued)
    assert as_basic.status_code == 401 and error_of(as_basic) == "invalid_client"
    as_post = token_request(
        hub,
        {
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": issued.verifier,
            "client_id": post_id,
            "client_secret": post_secret,
        },
    )
    assert as_post.status_code == 200, as_post.text

    basic_id, basic_secret = hub.client("Parkir Dishub")
    assert basic_secret is not None
    issued = obtain_code(hub, basic_id)
    response = token_request(
        hub,
        {
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": issued.verifier,
            "client_id": basic_id,
            "client_secret": basic_secret,
        },
    )
    assert response.status_code == 401 and error_of(response) == "invalid_client"


def test_wrong_or_missing_secret_is_invalid_client(hub: Hub) -> None:
    client_id, _secret = hub.client("Parkir Dishub")
    issued = obtain_code(hub, client_id)
    wrong = redeem(hub, client_id, "not-the-secret", issued)
    assert wrong.status_code == 401 and error_of(wrong) == "invalid_client"
    assert "Basic" in wrong.headers.get("www-authenticate", "")
    missing = redeem(hub, client_id, None, issued)
    assert missing.status_code == 401 and error_of(missing) == "invalid_client"


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic",
        "Bearer abc",
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_malformed_basic_credentials_are_invalid_client(hub: Hub, header: str) -> None:
    response = httpx.post(
        f"{hub.url}/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": header},
        timeout=10,
    )
    assert response.status_code in (400, 401) and error_of(response) == "invalid_client"


def test_suspended_client_is_invalid_client(hub: Hub) -> None:
    client_id, secret = register_client(
        hub, name="Ditangguhkan", grant_types=("client_credentials",), scope="anggaran:read", status="suspended"
    )
    assert secret is not None
    response = token_request(hub, {"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 401 and error_of(response) == "invalid_client"


def test_public_client_redeems_with_pkce_and_no_secret(hub: Hub) -> None:
    client_id, secret = hub.client("Aplikasi Publik")
    assert secret is None
    response = redeem(hub, client_id, None, obtain_code(hub, client_id, scope="openid profile"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["aud"] == client_id
    assert userinfo(hub, body["access_token"]).status_code == 200


def test_public_client_cannot_use_client_credentials(hub: Hub) -> None:
    client_id, _ = hub.client("Aplikasi Publik")
    response = token_request(hub, {"grant_type": "client_credentials", "client_id": client_id})
    # client_credentials accepts only confidential authentication methods, so the public client is not authenticated.
    assert response.status_code == 401 and error_of(response) == "invalid_client"


# --- client_credentials and resource indicators -----------------------------------------------------------------


def test_client_credentials_with_resource_sets_aud(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    response = token_request(
        hub,
        {"grant_type": "client_credentials", "resource": RESOURCE, "scope": "anggaran:read"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and "id_token" not in body
    keys = jwt.PyJWKClient(f"{hub.url}/auth/jwks")
    signing_key = keys.get_signing_key_from_jwt(body["access_token"])
    claims = jwt.decode(body["access_token"], signing_key.key, algorithms=["ES256"], audience=RESOURCE, issuer=hub.url)
    assert claims["aud"] == RESOURCE and claims["sub"] == client_id and claims["client_id"] == client_id
    assert claims["scope"] == "anggaran:read"


@pytest.mark.parametrize(
    "resource", ["http://127.0.0.1:9/apps/other/", "http://127.0.0.1:9/apps/e-budgeting/#x", "relative/path"]
)
def test_resource_not_allowed_is_invalid_target(hub: Hub, resource: str) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    response = token_request(hub, {"grant_type": "client_credentials", "resource": resource}, auth=(client_id, secret))
    assert response.status_code == 400 and error_of(response) == "invalid_target"


def test_openid_scope_in_client_credentials_is_invalid_scope(hub: Hub) -> None:
    # A client that may hold 'openid' for users still cannot get it without one (no subject to speak for).
    client_id, secret = register_client(
        hub, name="Mesin dan Manusia", grant_types=("client_credentials",), scope="openid anggaran:read"
    )
    assert secret is not None
    response = token_request(
        hub, {"grant_type": "client_credentials", "scope": "openid anggaran:read"}, auth=(client_id, secret)
    )
    assert response.status_code == 400 and error_of(response) == "invalid_scope"
    bapenda_id, bapenda_secret = hub.client("Bapenda Integrasi")
    assert bapenda_secret is not None
    response = token_request(
        hub, {"grant_type": "client_credentials", "scope": "openid"}, auth=(bapenda_id, bapenda_secret)
    )
    assert response.status_code == 400 and error_of(response) == "invalid_scope"


# --- grants and requests that are not offered -------------------------------------------------------------------


@pytest.mark.parametrize(
    "grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "made-up"]
)
def test_unsupported_grant_types(hub: Hub, grant_type: str) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    assert secret is not None
    response = token_request(
        hub,
        {
            "grant_type": grant_type,
            "username": "warga@example.id",
            "password": "kata-sandi-warga-2026",
            "device_code": "x",
            "assertion": "x",
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 400 and error_of(response) == "unsupported_grant_type"


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_implicit_and_hybrid_are_refused_at_authorize(hub: Hub, response_type: str) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    _, challenge = pkce_pair()
    response = httpx.get(
        hub.url + authorize_url(client_id, challenge, response_type=response_type), follow_redirects=False, timeout=10
    )
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?") and "#" not in location
    params = query_of(location)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "st-123" and params["iss"] == hub.url
    assert "code" not in params and "access_token" not in params


def test_json_body_is_invalid_request(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    response = httpx.post(
        f"{hub.url}/auth/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request"


def test_oversized_body_is_413(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    response = token_request(
        hub, {"grant_type": "client_credentials", "padding": "a" * (80 * 1024)}, auth=(client_id, secret)
    )
    assert response.status_code == 413 and error_of(response) == "invalid_request"


def test_repeated_parameter_is_invalid_request(hub: Hub) -> None:
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    body = "grant_type=client_credentials&scope=anggaran:read&scope=anggaran:read"
    response = httpx.post(
        f"{hub.url}/auth/token",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request"
