"""An independent, OpenID-Certified relying party library (Python ``oic``, pyoidc) against the provider.

oic performs discovery, builds the authorization request (PKCE S256 with its own ``add_code_challenge``), parses
the authorization response, redeems the code with client_secret_basic, validates the ID token (signature through
the JWKS it fetched, ``iss``, ``aud``, ``nonce``), refreshes, calls UserInfo, and revokes (RFC 7009) and
introspects (RFC 7662) through its ``oic.extension`` client. Only the person at the login and consent pages is
played by httpx (``Browser``): oic has no browser. Dynamic registration is not offered: the client is
pre-registered.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from oic import rndstr
from oic.exception import PyoidcError
from oic.extension.client import Client as ExtensionClient
from oic.oauth2.message import ErrorResponse
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, IdToken, OpenIDSchema, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.support.flows import REDIRECT_URI, WARGA
from tests.support.hub import Browser, Hub, run_hub


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def relying_party(hub: Hub, name: str = "Parkir Dishub") -> Client:
    client_id, secret = hub.client(name)
    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(hub.url)
    registration = {
        "client_id": client_id,
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
    }
    if secret:
        registration["client_secret"] = secret
    rp.store_registration_info(RegistrationResponse(**registration))
    return rp


def management_client(hub: Hub, rp: Client) -> ExtensionClient:
    """oic's RFC 7009 / RFC 7662 client, configured from the same discovery document."""
    ext = ExtensionClient(client_authn_method=CLIENT_AUTHN_METHOD)
    ext.provider_config(hub.url)
    ext.client_id, ext.client_secret = rp.client_id, rp.client_secret
    return ext


def sign_in(hub: Hub, rp: Client, scope: str = "openid profile email") -> tuple[str, AuthorizationResponse]:
    """oic builds the request and parses the response; httpx plays the person at the provider's pages."""
    state, nonce = rndstr(16), rndstr(16)
    pkce, verifier = rp.add_code_challenge()
    assert pkce["code_challenge_method"] == "S256"
    request = rp.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": scope.split(),
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": nonce,
            **pkce,
        }
    )
    rp.state2nonce[state] = nonce  # what oic's do_authorization_request records before it sends the request
    browser = Browser(hub)
    try:
        page = browser.go(request.request(rp.authorization_endpoint))
        assert page.status_code == 200, page.text
        done = browser.login(page, WARGA)
        if done.status_code == 200:
            done = browser.consent(done)
    finally:
        browser.close()
    assert done.status_code == 303 and done.headers["location"].startswith(REDIRECT_URI)
    response = rp.parse_response(
        AuthorizationResponse, info=urlsplit(done.headers["location"]).query, sformat="urlencoded"
    )
    assert isinstance(response, AuthorizationResponse) and response["state"] == state
    assert response["iss"] == hub.url  # RFC 9207
    return verifier, response


def redeem(rp: Client, verifier: str, response: AuthorizationResponse) -> AccessTokenResponse:
    method = rp.registration_response["token_endpoint_auth_method"]
    # oic names no 'none' method: a public client sends no credentials, only its client_id in the form.
    tokens = rp.do_access_token_request(
        state=response["state"],
        request_args={
            "code": response["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": rp.client_id,
        },
        authn_method="" if method == "none" else method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    return tokens


def test_discovery_and_jwks_through_oic(hub: Hub) -> None:
    rp = relying_party(hub)
    info = rp.provider_info
    assert info["issuer"] == hub.url
    assert "code" in info["response_types_supported"] and info["code_challenge_methods_supported"] == ["S256"]
    # Dynamic registration (RFC 7591) is offered only to holders of an initial access token from Kominfo.
    assert info["registration_endpoint"] == f"{hub.url}/auth/clients"
    anonymous = httpx.post(info["registration_endpoint"], json={"redirect_uris": [REDIRECT_URI]}, timeout=10)
    assert anonymous.status_code == 401
    assert rp.keyjar.get_issuer_keys(hub.url), "oic loaded no keys from jwks_uri"
    # /auth/register is the citizens' sign-up page: an RFC 7591 request to it is refused, never a client.
    refused = httpx.post(f"{hub.url}/auth/register", json={"redirect_uris": [REDIRECT_URI]}, timeout=10)
    assert refused.status_code == 400 and "client_id" not in refused.text


def test_code_flow_with_pkce_refresh_userinfo_revocation_introspection(hub: Hub) -> None:
    rp = relying_party(hub)
    verifier, response = sign_in(hub, rp)
    tokens = redeem(rp, verifier, response)

    # oic verified the ID token while parsing the token response: signature (JWKS), iss, aud, nonce.
    id_token = tokens["id_token"]
    assert isinstance(id_token, IdToken)
    assert id_token["iss"] == hub.url and id_token["aud"] == [rp.client_id]
    assert id_token["nonce"] == rp.state2nonce[response["state"]]
    assert id_token.jws_header is not None and id_token.jws_header["alg"] == "ES256"
    # OIDC Core §3.1.3.6: at_hash is the left half of SHA-256 over the access token, computed here independently.
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    info = rp.do_user_info_request(state=response["state"])
    assert isinstance(info, OpenIDSchema), info
    assert info["sub"] == id_token["sub"] and info["email"] == WARGA

    refreshed = rp.do_access_token_refresh(state=response["state"], authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    info = rp.do_user_info_request(state=response["state"], method="GET")
    assert isinstance(info, OpenIDSchema) and info["sub"] == id_token["sub"]

    ext = management_client(hub, rp)
    introspected = introspect(ext, refreshed["access_token"], "access_token")
    assert introspected["active"] is True and introspected["sub"] == id_token["sub"]
    assert introspected["client_id"] == rp.client_id
    assert introspect(ext, refreshed["refresh_token"], "refresh_token")["active"] is True

    assert (
        ext.do_token_revocation(
            request_args={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
            authn_method="client_secret_basic",
        )
        == 200
    )
    assert introspect(ext, refreshed["refresh_token"], "refresh_token")["active"] is False
    assert introspect(ext, refreshed["access_token"], "access_token")["active"] is False
    denied = rp.do_user_info_request(state=response["state"])
    assert isinstance(denied, ErrorResponse) and denied["error"] == "invalid_token"


def test_access_token_revocation_through_oic(hub: Hub) -> None:
    rp = relying_party(hub)
    verifier, response = sign_in(hub, rp)
    tokens = redeem(rp, verifier, response)
    ext = management_client(hub, rp)
    assert (
        ext.do_token_revocation(
            request_args={"token": tokens["access_token"], "token_type_hint": "access_token"},
            authn_method="client_secret_basic",
        )
        == 200
    )
    assert introspect(ext, tokens["access_token"], "access_token")["active"] is False
    # Revoking the access token leaves the refresh token (RFC 7009 §2.1 lets either choice stand; ours is narrow).
    assert introspect(ext, tokens["refresh_token"], "refresh_token")["active"] is True


def test_oic_rejects_an_id_token_with_a_wrong_nonce(hub: Hub) -> None:
    # Proof that oic's nonce check is live in this setup, so the passing flow above means something.
    rp = relying_party(hub)
    verifier, response = sign_in(hub, rp)
    rp.state2nonce[response["state"]] = "not-the-nonce-we-sent"
    with pytest.raises(PyoidcError):
        redeem(rp, verifier, response)


def test_public_client_through_oic(hub: Hub) -> None:
    rp = relying_party(hub, "Aplikasi Publik")
    verifier, response = sign_in(hub, rp, scope="openid profile")
    tokens = redeem(rp, verifier, response)
    assert isinstance(tokens["id_token"], IdToken) and tokens["id_token"]["aud"] == [rp.client_id]
    info = rp.do_user_info_request(state=response["state"])
    assert isinstance(info, OpenIDSchema) and info["sub"] == tokens["id_token"]["sub"]


def introspect(ext: ExtensionClient, token: str, hint: str) -> Any:
    return ext.do_token_introspection(
        request_args={"token": token, "token_type_hint": hint}, authn_method="client_secret_basic"
    )
