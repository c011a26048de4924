"""FAPI 2.0 with an independent certified relying party: npm ``openid-client`` v6 against Gerbang.

The node script (tests/support/node/openid_client_fapi.mjs) pushes a signed request object (PAR + JAR),
authenticates with private_key_jwt (ES256), binds every token to one DPoP key (nonces included: the provider asks
for them), validates the ID token, calls UserInfo with DPoP, refreshes with DPoP and calls UserInfo again.
Python only plays the person at the login and consent pages.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from idp.clients import ClientSecurity
from tests.integration.test_rp_openid_client import NodeRelyingParty, openid_client_dir  # noqa: F401 (fixture)
from tests.support.flows import REDIRECT_URI, WARGA, register_client
from tests.support.dpop_city import RESOURCE, run_dpop_city
from tests.support.hub import Browser, Hub

SCRIPT = Path(__file__).parents[1] / "support" / "node" / "openid_client_fapi.mjs"


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_dpop_city(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def fapi_dir(openid_client_dir: Path) -> Path:  # noqa: F811
    shutil.copy(SCRIPT, openid_client_dir / SCRIPT.name)
    return openid_client_dir


def fapi_client(hub: Hub, id_token_alg: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-rp-1", "alg": "ES256", "use": "sig"})
    client_id, secret = register_client(
        hub, name="Bapenda FAPI", redirect_uris=(REDIRECT_URI,), scope="openid profile email anggaran:read",
        grant_types=("authorization_code", "refresh_token", "client_credentials"), resources=(RESOURCE,),
        auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]},
        security=ClientSecurity(profile="fapi2", id_token_alg=id_token_alg), **extra)
    assert secret is None
    return client_id, key.as_dict(private=True)


def run_fapi_flow(hub: Hub, directory: Path, client_id: str, jwk: dict[str, Any],
                  **extra: Any) -> dict[str, Any]:
    rp = NodeRelyingParty(directory, SCRIPT.name)
    try:
        rp.send({"issuer": hub.url, "client_id": client_id, "client_jwk": jwk, "redirect_uri": REDIRECT_URI,
                 "scope": "openid profile email", **extra})
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
        hub: Hub, fapi_dir: Path, id_token_alg: str) -> None:
    client_id, jwk = fapi_client(hub, id_token_alg)
    result = run_fapi_flow(hub, fapi_dir, client_id, jwk, api_url=f"{hub.url}/apps/e-budgeting/echo",
                           api_resource=RESOURCE, api_scope="anggaran:read", id_token_alg=id_token_alg)

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
