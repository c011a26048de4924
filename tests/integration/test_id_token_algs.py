"""ID token signing algorithm per client (OIDC Registration §2 ``id_token_signed_response_alg``): ES256 by default,
PS256, RS256 (OIDC Core §15.1 requires it) and EdDSA, each with its own published key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from idp.clients import ClientSecurity
from idp.errors import InvalidInput
from tests.support.flows import REDIRECT_URI, obtain_code, redeem, register_client
from tests.support.hub import Hub, run_hub


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


def test_discovery_lists_every_id_token_algorithm(hub: Hub) -> None:
    metadata = httpx.get(f"{hub.url}/.well-known/openid-configuration").json()
    assert metadata["id_token_signing_alg_values_supported"][0] == "ES256"
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"ES256", "PS256", "RS256", "EdDSA"}
    published = {key["alg"] for key in httpx.get(f"{hub.url}/auth/jwks").json()["keys"]}
    assert published == {"ES256", "PS256", "RS256", "EdDSA"}


@pytest.mark.parametrize("alg", [None, "ES256", "PS256", "RS256", "EdDSA"])
def test_id_token_is_signed_with_the_clients_algorithm(hub: Hub, alg: str | None) -> None:
    client_id, secret = register_client(
        hub,
        name=f"RP {alg}",
        redirect_uris=(REDIRECT_URI,),
        scope="openid profile email",
        security=ClientSecurity(id_token_alg=alg),
    )
    response = redeem(hub, client_id, secret, obtain_code(hub, client_id))
    assert response.status_code == 200, response.text
    id_token, access_token = response.json()["id_token"], response.json()["access_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == (alg or "ES256")
    key = jwt.PyJWKClient(f"{hub.url}/auth/jwks").get_signing_key(header["kid"])
    assert key._jwk_data["alg"] == header["alg"]
    claims = jwt.decode(id_token, key.key, algorithms=[header["alg"]], audience=client_id, issuer=hub.url)
    assert claims["at_hash"]
    assert jwt.get_unverified_header(access_token)["alg"] == "ES256"  # access tokens keep the hub's algorithm
    # The hub takes its own ID token back as id_token_hint whatever it was signed with.
    again = obtain_code(hub, client_id, prompt="none", id_token_hint=id_token)
    assert again.code


def test_unknown_algorithm_is_refused_at_registration(hub: Hub) -> None:
    with pytest.raises(InvalidInput):
        register_client(
            hub, name="RP HS256", redirect_uris=(REDIRECT_URI,), security=ClientSecurity(id_token_alg="HS256")
        )
