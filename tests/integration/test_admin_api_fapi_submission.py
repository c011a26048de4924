"""An OPD submits an app whose client follows FAPI 2.0 with its keys at a jwks_uri; Kominfo's approval creates
that client (private_key_jwt, PAR, DPoP, no secret), and it authenticates with a key served by a real JWKS
server. A profile without keys, or keys at an address the hub may not reach, is refused at submission."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select

from idp.storage.models import Client
from tests.integration.test_admin_api import City, city, is_problem, submission  # noqa: F401 (fixture)
from tests.support.admin import DISHUB_OPERATOR, KOMINFO
from tests.support.cli_env import run_query
from tests.support.key_server import KeyServer
from tests.support.server import run_server


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer()
    with run_server(server) as url:
        yield server, url


def test_a_fapi2_app_is_submitted_approved_and_authenticates_by_its_jwks_uri(
    city: City, keys: tuple[KeyServer, str], database_url: str
) -> None:  # noqa: F811
    server, url = keys
    key = ECKey.generate_key("P-256", parameters={"kid": f"opd-{uuid.uuid4().hex[:6]}", "alg": "ES256"})
    server.keys = [key.as_dict(private=False)]
    operator, kominfo = city.as_(DISHUB_OPERATOR), city.as_(KOMINFO)
    submitted = operator.post("/apps", submission(city.upstream, client_profile="fapi2", jwks_uri=f"{url}/jwks"))
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["client_profile"] == "fapi2" and submitted.json()["jwks_uri"] == f"{url}/jwks"
    approved = kominfo.post("/apps/parkir/approve")
    assert approved.status_code == 200, approved.text
    client_id = approved.json()["client_id"]
    assert approved.json()["client_secret"] is None  # private_key_jwt: there is no secret to show
    (row,) = run_query(database_url, select(Client).where(Client.client_id == client_id))
    client = row[0]
    assert (client.profile, client.require_par, client.dpop_bound, client.auth_method, client.jwks_uri) == (
        "fapi2",
        True,
        True,
        "private_key_jwt",
        f"{url}/jwks",
    )
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": f"{city.hub.url}/auth/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        key.as_pem(private=True),
        algorithm="ES256",
        headers={"kid": key.kid},
    )
    token = httpx.post(
        f"{city.hub.url}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "parkir:read",
            "resource": f"{city.hub.app_url('parkir')}/",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    # DPoP-bound client: without a proof the token endpoint refuses; the key at the jwks_uri authenticated it.
    assert token.status_code == 400 and token.json()["error"] in ("invalid_dpop_proof", "use_dpop_nonce"), token.text


@pytest.mark.parametrize(
    "extra,reason",
    [
        ({"client_profile": "fapi2"}, "jwks_uri"),
        ({"jwks_uri": "https://169.254.169.254/latest/jwks"}, "link-local"),
        ({"client_profile": "fapi3", "jwks_uri": "https://keys.example/jwks"}, ""),
        ({"jwks_uri": "ftp://keys.example/jwks"}, ""),
    ],
)
def test_a_fapi_submission_without_usable_keys_is_refused(city: City, extra: dict, reason: str) -> None:  # noqa: F811
    answer = city.as_(DISHUB_OPERATOR).post("/apps", submission(city.upstream, **extra))
    assert answer.status_code in (400, 422) and answer.headers["content-type"] == "application/problem+json"
    assert reason in answer.text
    assert city.as_(KOMINFO).get("/apps", status="pending").json()["items"] == []
