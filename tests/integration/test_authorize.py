"""The authorization endpoint under attack and at its edges (RFC 6749 §4.1, RFC 9700, OIDC Core §3.1.2)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.hub import Browser, Hub, authorize_url, csrf_from, pkce_pair, query_of, run_hub

REDIRECT = "http://127.0.0.1:9/cb"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One provider per backend for this module; each test makes its own codes and sessions."""
    from idp.storage.migrate import upgrade
    from tests.support.services import drop_pg_database, new_pg_database

    tmp = tmp_path_factory.mktemp("authorize")
    if request.param == "sqlite":
        url, name = f"sqlite+aiosqlite:///{tmp / 'hub.db'}", None
    else:
        name, url = new_pg_database()
    try:
        upgrade(url)
        with run_hub(url, tmp) as running:
            yield running
    finally:
        if name:
            drop_pg_database(name)


def signed_in(hub: Hub, name: str = "Portal Kominfo") -> Browser:
    browser = Browser(hub)
    client_id, _ = hub.client(name)
    page = browser.go(authorize_url(client_id, pkce_pair()[1]))
    browser.login(page, "warga@example.id")
    return browser


@pytest.mark.parametrize(
    "variant",
    [
        REDIRECT + "/",  # trailing slash
        REDIRECT + "?x=1",  # extra query
        REDIRECT.upper(),  # case
        "http://127.0.0.1:9/cb/../cb",  # dot segments
        "http://127.0.0.1:9/cb#frag",  # fragment
        "https://evil.example/cb",  # other host
        "http://127.0.0.1:9@evil.example/cb",  # userinfo trick
    ],
)
def test_unregistered_redirect_uri_is_never_redirected_to(hub: Hub, variant: str) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    response = httpx.get(hub.url + authorize_url(client_id, pkce_pair()[1], redirect_uri=variant))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


def test_unknown_client_gets_a_page_not_a_redirect(hub: Hub) -> None:
    response = httpx.get(hub.url + authorize_url("no-such-client", pkce_pair()[1]))
    assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize(
    "pkce, expected",
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # missing
        ({"code_challenge_method": "plain"}, "invalid_request"),  # downgrade to plain
        ({"code_challenge_method": None}, "invalid_request"),  # method omitted means plain
        ({"code_challenge": "short"}, "invalid_request"),
    ],
)
def test_pkce_is_required_and_s256_only_for_confidential_clients_too(hub: Hub, pkce: dict, expected: str) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    url = httpx.URL(hub.url + authorize_url(client_id, pkce_pair()[1]))
    params = dict(url.params)
    for key, value in pkce.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    response = httpx.get(url.copy_with(params=params))
    assert response.status_code == 303
    result = query_of(response.headers["location"])
    assert result["error"] == expected and result["state"] == "st-123" and result["iss"] == hub.url


def test_response_type_token_is_refused_with_error_at_redirect(hub: Hub) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    url = httpx.URL(hub.url + authorize_url(client_id, pkce_pair()[1]))
    response = httpx.get(url.copy_merge_params({"response_type": "token"}))
    assert query_of(response.headers["location"])["error"] == "unsupported_response_type"


def test_malformed_request_object_is_refused_without_redirect(hub: Hub) -> None:
    """RFC 9101: the parameters beside an unverifiable object (its redirect_uri too) cannot be trusted."""
    client_id, _ = hub.client("Parkir Dishub")
    url = httpx.URL(hub.url + authorize_url(client_id, pkce_pair()[1]))
    response = httpx.get(url.copy_merge_params({"request": "eyJ.x.y"}))
    assert response.status_code == 400 and "location" not in response.headers


def test_prompt_none_without_session_answers_login_required(hub: Hub) -> None:
    client_id, _ = hub.client("Parkir Dishub")
    response = httpx.get(hub.url + authorize_url(client_id, pkce_pair()[1], prompt="none"))
    assert query_of(response.headers["location"])["error"] == "login_required"


def test_single_sign_on_second_client_needs_no_password(hub: Hub) -> None:
    browser = signed_in(hub)
    client_id, _ = hub.client("Portal Kominfo")
    response = browser.go(authorize_url(client_id, pkce_pair()[1], prompt="none"))
    assert response.status_code == 303 and "code" in query_of(response.headers["location"])
    browser.close()


def test_consent_needed_answers_consent_required_with_prompt_none(hub: Hub) -> None:
    browser = signed_in(hub)
    client_id, _ = hub.client("Parkir Dishub")
    response = browser.go(authorize_url(client_id, pkce_pair()[1], prompt="none"))
    assert query_of(response.headers["location"])["error"] == "consent_required"
    browser.close()


def test_prompt_login_forces_a_new_login_and_a_new_session_id(hub: Hub) -> None:
    browser = signed_in(hub)
    first = browser.http.cookies.get("gerbang_session")
    client_id, _ = hub.client("Portal Kominfo")
    page = browser.go(authorize_url(client_id, pkce_pair()[1], prompt="login"))
    assert page.status_code == 200 and 'name="password"' in page.text
    done = browser.login(page, "warga@example.id")
    assert done.status_code == 303 and "code" in query_of(done.headers["location"])
    assert browser.http.cookies.get("gerbang_session") != first
    browser.close()


def test_max_age_zero_forces_login(hub: Hub) -> None:
    browser = signed_in(hub)
    client_id, _ = hub.client("Portal Kominfo")
    page = browser.go(authorize_url(client_id, pkce_pair()[1], max_age="0"))
    assert page.status_code == 200 and 'name="password"' in page.text
    browser.close()


def test_id_token_hint_for_another_user_forces_login(hub: Hub) -> None:
    browser = signed_in(hub)
    client_id, _ = hub.client("Portal Kominfo")
    forged_hint = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    response = browser.go(authorize_url(client_id, pkce_pair()[1], id_token_hint=forged_hint))
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    browser.close()


def test_login_with_wrong_password_does_not_tell_whether_the_account_exists(hub: Hub) -> None:
    pages = []
    for login in ("warga@example.id", "nobody@example.id"):
        browser = Browser(hub)
        client_id, _ = hub.client("Portal Kominfo")
        page = browser.go(authorize_url(client_id, pkce_pair()[1]))
        response = browser.login(page, login, password="salah-sekali-123")
        pages.append((response.status_code, response.text.replace(login, "LOGIN")))
        browser.close()
    assert pages[0][0] == pages[1][0] == 200
    strip = [text.split('name="csrf_token" value="')[0] for _, text in pages]
    assert strip[0] == strip[1]


def test_login_post_without_csrf_token_is_refused(hub: Hub) -> None:
    browser = Browser(hub)
    client_id, _ = hub.client("Portal Kominfo")
    page = browser.go(authorize_url(client_id, pkce_pair()[1]))
    interaction = query_of(str(page.url))["interaction"]
    response = browser.http.post(
        "/auth/login", data={"login": "warga@example.id", "password": "x" * 10, "interaction": interaction}
    )
    assert response.status_code == 403
    browser.close()


def test_interaction_cannot_be_completed_in_another_browser(hub: Hub) -> None:
    victim, attacker = Browser(hub), Browser(hub)
    client_id, _ = hub.client("Portal Kominfo")
    page = attacker.go(authorize_url(client_id, pkce_pair()[1]))
    stolen = str(page.url).split("?", 1)[1]
    response = victim.go(f"/auth/login?{stolen}")
    assert response.status_code == 400
    victim.close()
    attacker.close()


def test_pages_forbid_framing_and_speak_indonesian_by_default(hub: Hub) -> None:
    client_id, _ = hub.client("Portal Kominfo")
    page = Browser(hub).go(authorize_url(client_id, pkce_pair()[1]))
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'lang="id"' in page.text and "Kata sandi" in page.text
    english = Browser(hub).go(authorize_url(client_id, pkce_pair()[1], ui_locales="en"))
    assert "Password" in english.text


def test_consent_denied_redirects_access_denied(hub: Hub) -> None:
    browser = Browser(hub)
    client_id, _ = hub.client("Parkir Dishub")
    page = browser.go(authorize_url(client_id, pkce_pair()[1]))
    consent = browser.login(page, "warga@example.id")
    done = browser.consent(consent, decision="deny")
    result = query_of(done.headers["location"])
    assert result["error"] == "access_denied" and result["iss"] == hub.url
    browser.close()


def test_logout_with_hint_ends_session_everywhere_and_returns_to_registered_uri(hub: Hub) -> None:
    browser = Browser(hub)
    client_id, secret = hub.client("Parkir Dishub")
    verifier, challenge = pkce_pair()
    page = browser.go(authorize_url(client_id, challenge))
    done = browser.consent(browser.login(page, "warga@example.id"))
    code = query_of(done.headers["location"])["code"]
    tokens = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    ).json()
    bad = browser.http.get(
        "/auth/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert bad.status_code == 400
    out = browser.http.get(
        "/auth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "state": "s1",
            "post_logout_redirect_uri": REDIRECT + "/logged-out",
        },
    )
    assert out.status_code == 303 and out.headers["location"] == REDIRECT + "/logged-out?state=s1"
    again = browser.go(authorize_url(hub.client("Portal Kominfo")[0], pkce_pair()[1], prompt="none"))
    assert query_of(again.headers["location"])["error"] == "login_required"
    browser.close()


def test_logout_without_hint_asks_first(hub: Hub) -> None:
    browser = signed_in(hub)
    page = browser.http.get("/auth/logout")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    client_id, _ = hub.client("Portal Kominfo")
    still = browser.go(authorize_url(client_id, pkce_pair()[1], prompt="none"))
    assert "code" in query_of(still.headers["location"])
    done = browser.http.post("/auth/logout", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200
    gone = browser.go(authorize_url(client_id, pkce_pair()[1], prompt="none"))
    assert query_of(gone.headers["location"])["error"] == "login_required"
    browser.close()


def test_discovery_lists_every_endpoint_and_jwks_serves_the_signing_key(hub: Hub) -> None:
    meta = httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
    assert meta["issuer"] == hub.url and meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ):
        assert meta[key].startswith(hub.url + "/auth/")
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    keys = httpx.get(meta["jwks_uri"]).json()["keys"]
    assert keys and all("d" not in key for key in keys) and keys[0]["alg"] == "ES256"
    assert httpx.get(f"{hub.url}/.well-known/oauth-authorization-server").json()["issuer"] == hub.url


def test_language_switch_keeps_the_interaction_and_is_remembered(hub: Hub) -> None:
    browser = Browser(hub)
    client_id, _ = hub.client("Portal Kominfo")
    page = browser.go(authorize_url(client_id, pkce_pair()[1]))
    switch = page.text.split('class="foot"><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    english = browser.go("/auth/login" + switch)
    assert english.status_code == 200 and "Password" in english.text
    again = browser.go(str(page.url).replace(hub.url, ""))
    assert "Password" in again.text  # the choice is kept in a cookie
    browser.close()
