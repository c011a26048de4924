"""openid-client (npm, certified) as a FAPI 2.0 client whose keys Gerbang fetches from its ``jwks_uri``: the request
object pushed with PAR and every private_key_jwt assertion are verified with keys served by a real loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from idp.clients import ClientSecurity
from tests.integration.test_rp_openid_client import openid_client_dir  # noqa: F401 (fixture)
from tests.integration.test_rp_openid_client_fapi import fapi_dir, hub, run_fapi_flow  # noqa: F401 (fixtures)
from tests.support.dpop_city import RESOURCE
from tests.support.flows import REDIRECT_URI, register_client
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Hub
from tests.support.key_server import KeyServer
from tests.support.server import run_server


@pytest.fixture(scope="module")
def key_server() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer()
    with run_server(server) as url:
        yield server, url


def test_openid_client_fapi2_with_keys_at_a_jwks_uri(
    hub: Hub,
    fapi_dir: Path,  # noqa: F811
    key_server: tuple[KeyServer, str],
) -> None:
    server, url = key_server
    key = ECKey.generate_key("P-256", parameters={"kid": "bapenda-uri-1", "alg": "ES256", "use": "sig"})
    server.keys, server.hits = [key.as_dict(private=False)], {}
    client_id, secret = register_client(
        hub,
        name="Bapenda FAPI (jwks_uri)",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile email",
        grant_types=("authorization_code", "refresh_token"),
        resources=(RESOURCE,),
        auth_method="private_key_jwt",
        jwks_uri=f"{url}/jwks",
        security=ClientSecurity(profile="fapi2"),
        addresses=TEST_UPSTREAM_ADDRESSES,
    )
    assert secret is None
    result = run_fapi_flow(hub, fapi_dir, client_id, key.as_dict(private=True), id_token_alg="ES256")
    assert result["ok"] is True, json.dumps(result)
    assert result["token_type"].lower() == "dpop" and result["userinfo"]["sub"] == result["id_token_claims"]["sub"]
    assert server.hits == {"/jwks": 1}  # PAR (request object + assertion), token, refresh: one fetch, then the cache
