"""FAPI 2.0 with an independent certified relying party: npm ``openid-client`` v6 against Gerbang.

The node script (tests/support/node/openid_client_fapi.mjs) pushes a signed request object (PAR + JAR),
authenticates with private_key_jwt (ES256), binds every token to one DPoP key (nonces included: the provider asks
for them), validates the ID token, calls UserInfo with DPoP, refreshes with DPoP and calls UserInfo again, then
calls BPKAD's ``--require-dpop`` app through the gateway with a DPoP-bound token. A second script runs the RFC 8628
device grant. Python only plays the person at the login, consent and device pages.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from idp.clients import DEVICE_GRANT, ClientSecurity
from tests.integration.test_rp_openid_client import NodeRelyingParty, openid_client_dir  # noqa: F401 (fixture)
from tests.support.dpop_city import RESOURCE, run_dpop_city
from tests.support.flows import REDIRECT_URI, WARGA, register_client
from tests.support.hub import Browser, Hub, csrf_from

SCRIPT = Path(__file__).parents[1] / "support" / "node" / "openid_client_fapi.mjs"
# Kominfo binds e-budgeting's clients to FAPI 2.0 (docs/policies.md, "Profile rules"): the certified RP, a FAPI 2.0
# client, completes everything below under it; a client outside the profile gets nothing for the app.
PROFILE_RULE = """provider:
  profiles:
    - id: fapi2-for-e-budgeting
      profile: fapi2
      apps: [e-budgeting]
"""
DEVICE_SCRIPT = SCRIPT.with_name("openid_client_device.mjs")


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_dpop_city(module_database_url, tmp_path_factory.mktemp("hub"), PROFILE_RULE) as running:
        yield running


@pytest.fixture(scope="module")
def fapi_dir(openid_client_dir: Path) -> Path:  # noqa: F811
    for script in (SCRIPT, DEVICE_SCRIPT):
        shutil.copy(script, openid_client_dir / script.name)
    return openid_client_dir


def fapi_client(hub: Hub, id_token_alg: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-rp-1", "alg": "ES256", "use": "sig"})
    client_id, secret = register_client(
        hub,
        name="Bapenda FAPI",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile email anggaran:read",
        grant_types=("authorization_code", "refresh_token", "client_credentials"),
        resources=(RESOURCE,),
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        security=ClientSecurity(profile="fapi2", id_token_alg=id_token_alg),
        **extra,
    )
    assert secret is None
    return client_id, key.as_dict(private=True)


def run_fapi_flow(hub: Hub, directory: Path, client_id: str, jwk: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rp = NodeRelyingParty(directory, SCRIPT.name)
    try:
        rp.send(
            {
                "issuer": hub.url,
                "client_id": client_id,
                "client_jwk": jwk,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid profile email",
                **extra,
            }
        )
        asked = rp.receive()
        assert "authorization_url" in asked, asked
        assert asked["pushed"] is True
        browser = Browser(hub)
        try:
            page = browser.go(asked["authorization_url"])
            assert page.status_code == 200, page.text
            done = browser.login(page, WARGA)
            if done.status_code == 200:
                done = browser.consent(done)
        finally:
            browser.close()
        assert done.status_code == 303, done.text
        rp.send({"callback_url": done.headers["location"]})
        return rp.receive()
    finally:
        rp.close()


@pytest.mark.parametrize("id_token_alg", ["ES256", "PS256", "EdDSA"])
def test_openid_client_completes_fapi2_par_jar_dpop_private_key_jwt_refresh_userinfo_gateway(
    hub: Hub, fapi_dir: Path, id_token_alg: str
) -> None:
    client_id, jwk = fapi_client(hub, id_token_alg)
    result = run_fapi_flow(
        hub,
        fapi_dir,
        client_id,
        jwk,
        api_url=f"{hub.app_url('e-budgeting')}/echo",
        api_resource=RESOURCE,
        api_scope="anggaran:read",
        id_token_alg=id_token_alg,
    )

    assert result["ok"] is True, json.dumps(result)
    assert result["token_type"].lower() == "dpop" and result["refreshed_token_type"].lower() == "dpop"
    claims = result["id_token_claims"]
    assert claims["iss"] == hub.url and claims["aud"] == client_id and claims["email"] == WARGA
    assert result["userinfo"]["sub"] == claims["sub"] == result["userinfo_after_refresh"]["sub"]
    assert result["refreshed_differs"] is True
    # ... and through the gateway to BPKAD's --require-dpop app, with a proof openid-client made for that URL
    assert result["api"]["token_type"].lower() == "dpop"
    assert result["api"]["status"] == 200, result["api"]
    assert json.loads(result["api"]["body"])["upstream"] == "e-budgeting"


def test_a_client_outside_the_profile_gets_no_token_for_the_bound_app(hub: Hub) -> None:
    """The seeded Bapenda integration (client_secret_basic, DPoP not required) may ask for e-budgeting's resource
    by its registration, but the profile rule refuses it; for the hub itself it still gets tokens."""
    client_id, secret = hub.client("Bapenda Integrasi")
    assert secret is not None
    url = f"{hub.url}/auth/token"
    refused = httpx.post(url, data={"grant_type": "client_credentials", "resource": RESOURCE}, auth=(client_id, secret))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client", refused.text
    assert "fapi2-for-e-budgeting" in refused.json()["error_description"]
    assert httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)).status_code == 200


def test_openid_client_completes_the_device_grant(hub: Hub, fapi_dir: Path) -> None:
    """RFC 8628 as a kiosk would: openid-client polls while the person enters the code on the Bahasa page."""
    client_id, _ = register_client(
        hub, name="Kios MPP", public=True, scope="openid profile", grant_types=(DEVICE_GRANT, "refresh_token")
    )
    rp = NodeRelyingParty(fapi_dir, DEVICE_SCRIPT.name)
    try:
        rp.send({"issuer": hub.url, "client_id": client_id, "scope": "openid profile"})
        shown = rp.receive()
        assert "user_code" in shown, shown
        assert shown["verification_uri"] == f"{hub.url}/auth/device"
        browser = Browser(hub)
        try:
            page = browser.go(f"/auth/device?user_code={shown['user_code']}")
            entered = browser.submit(
                "/auth/device", {"csrf_token": csrf_from(page.text), "user_code": shown["user_code"]}
            )
            confirm = browser.login(entered, WARGA)
            done = browser.submit(
                "/auth/device",
                {"csrf_token": csrf_from(confirm.text), "user_code": shown["user_code"], "decision": "allow"},
            )
            assert "Perangkat sudah terhubung" in done.text, done.text
        finally:
            browser.close()
        rp.send({"approved": True})
        result = rp.receive()
    finally:
        rp.close()
    assert result["ok"] is True, json.dumps(result)
    assert result["claims"]["aud"] == client_id and result["has_refresh"] is True
