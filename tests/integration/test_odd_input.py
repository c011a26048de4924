"""No 500 on odd input: every provider endpoint answers bad input with the right OAuth error or a 400 page.

The review sent a ``"``, ``\\``, TAB and non-ASCII characters in ``redirect_uri`` and ``response_type``; the
same characters go into every other parameter here, with and without a signed-in session.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.flows import signed_in_browser
from tests.support.hub import Browser, Hub, authorize_url, pkce_pair, run_hub

WARGA = "warga@example.id"
REDIRECT = "http://127.0.0.1:9/cb"
ODD = ['"', "\\", "\t", "é", "\u202e", "\x00", "%ff", "💥", "\r\n", "a" * 5000]
AUTHORIZE_PARAMS = [
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "client_id",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "id_token_hint",
    "ui_locales",
    "acr_values",
    "login_hint",
    "resource",
    "response_mode",
    "claims",
]


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def odd_variants(value: str) -> list[str]:
    return [value + odd for odd in ODD] + [odd for odd in ODD]


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize("name", AUTHORIZE_PARAMS)
def test_authorize_never_answers_5xx(hub: Hub, name: str, signed_in: bool) -> None:
    client_id, _ = hub.client("Portal Kominfo")
    browser = signed_in_browser(hub, WARGA) if signed_in else Browser(hub)
    if signed_in:
        browser.go(authorize_url(client_id, pkce_pair()[1]))  # make sure the session exists
    base = dict(httpx.QueryParams(authorize_url(client_id, pkce_pair()[1]).split("?", 1)[1]))
    for value in odd_variants(base.get(name, "x")):
        response = browser.http.get("/auth/authorize", params={**base, name: value})
        assert response.status_code < 500, (name, value, response.status_code, response.text[:300])
        posted = browser.http.post("/auth/authorize", data={**base, name: value})
        assert posted.status_code < 500, (name, value, posted.status_code, posted.text[:300])


def test_one_registered_redirect_uri_and_none_sent_is_a_400_page_not_a_503(hub: Hub) -> None:
    client_id, _ = hub.client("Portal Kominfo")
    browser = signed_in_browser(hub, WARGA)
    browser.go(authorize_url(client_id, pkce_pair()[1]))
    params = dict(httpx.QueryParams(authorize_url(client_id, pkce_pair()[1]).split("?", 1)[1]))
    del params["redirect_uri"]
    response = browser.http.get("/auth/authorize", params=params)
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    "name",
    [
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "client_id",
        "scope",
        "refresh_token",
        "resource",
        "client_assertion",
        "client_assertion_type",
    ],
)
def test_token_endpoint_answers_odd_input_with_oauth_errors(hub: Hub, name: str) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    assert secret is not None
    base = {"grant_type": "authorization_code", "code": "abc", "redirect_uri": REDIRECT, "code_verifier": "v" * 50}
    for value in odd_variants(base.get(name, "x")):
        for auth in ((client_id, secret), None):
            response = httpx.post(f"{hub.url}/auth/token", data={**base, name: value}, auth=auth, timeout=10)
            assert response.status_code < 500, (name, value, response.status_code, response.text[:300])
            assert "error" in response.json()


@pytest.mark.parametrize("name", ["response_type", "redirect_uri", "scope", "state", "code_challenge", "client_id"])
def test_pushed_authorization_requests_answer_odd_input_with_oauth_errors(hub: Hub, name: str) -> None:
    """PAR reads its form as the token endpoint does (idp.http.read_oauth_form): a value outside its grammar is
    invalid_request, never a 5xx."""
    client_id, secret = hub.client("Parkir Dishub")
    assert secret is not None
    base = {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "client_id": client_id,
    }
    for value in odd_variants(base[name]):
        response = httpx.post(f"{hub.url}/auth/par", data={**base, name: value}, auth=(client_id, secret), timeout=10)
        assert response.status_code < 500, (name, value, response.status_code, response.text[:300])
        # a variant inside the grammar (a space in state is VSCHAR) is pushed; anything else is an OAuth error
        assert response.status_code == 201 or "error" in response.json(), (name, value)


def test_odd_authorization_headers_are_oauth_errors(hub: Hub) -> None:
    for header in [
        "Basic \t",
        "Basic " + "é" * 10,
        'Bearer "',
        "Bearer \\",
        "Basic Og==",
        "Basic w6k6w6k=",
        "Basic !!!!",
        "DPoP x",
        "Bearer " + "a" * 9000,
    ]:
        for path, method in (
            ("/auth/token", "POST"),
            ("/auth/userinfo", "GET"),
            ("/auth/userinfo", "POST"),
            ("/auth/introspect", "POST"),
            ("/auth/revoke", "POST"),
            ("/auth/clients", "POST"),
        ):
            try:
                response = httpx.request(
                    method,
                    f"{hub.url}{path}",
                    headers={"Authorization": header.encode()},
                    data={"token": "x", "grant_type": "client_credentials"},
                    timeout=10,
                )
            except httpx.LocalProtocolError:
                continue
            assert response.status_code < 500, (path, header, response.status_code, response.text[:300])


@pytest.mark.parametrize("name", ["id_token_hint", "post_logout_redirect_uri", "client_id", "state", "ui_locales"])
def test_logout_never_answers_5xx(hub: Hub, name: str) -> None:
    browser = signed_in_browser(hub, WARGA)
    for value in odd_variants("x"):
        for method in ("GET", "POST"):
            if method == "GET":
                response = browser.http.get("/auth/logout", params={name: value})
            else:
                response = browser.http.post("/auth/logout", data={name: value})
            assert response.status_code < 500, (name, value, response.status_code, response.text[:300])


def test_client_registration_answers_odd_metadata_with_oauth_errors(hub: Hub) -> None:
    for value in odd_variants("http://127.0.0.1:9/cb"):
        for body in (
            {"redirect_uris": [value]},
            {"redirect_uris": [REDIRECT], "client_name": value},
            {"redirect_uris": REDIRECT},
            {"redirect_uris": [REDIRECT], "jwks": value},
            {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": value},
        ):
            response = httpx.post(
                f"{hub.url}/auth/clients", json=body, timeout=10, headers={"Authorization": "Bearer " + "x" * 20}
            )
            assert response.status_code < 500, (body, response.status_code, response.text[:300])
