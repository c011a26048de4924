"""Kominfo's profile rule at run time (both backends): once the policy requires FAPI 2.0 of a restricted app's
clients, a client registered before the rule gets nothing more for the app, however it asks (client_credentials,
a refresh token from before, a new authorization, PAR, the device grant, token exchange), and the gateway refuses
the tokens it already holds, DPoP-bound or not; a FAPI 2.0 client goes on working. Removing the rule file (or the
rule) makes each refusal below an acceptance: this test fails."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.app import create_app
from gateway.apps import add_app
from idp.clients import DEVICE_GRANT, TOKEN_EXCHANGE_GRANT, ClientSecurity
from idp.dpop.client import make_client_assertion, make_proof, public_jwk
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.eventually import eventually
from tests.support.flows import REDIRECT_URI, obtain_code, register_client
from tests.support.hub import (
    HUB_POLICIES,
    TEST_UPSTREAM_ADDRESSES,
    Browser,
    Hub,
    authorize_url,
    pkce_pair,
    query_of,
    run_hub,
)
from tests.support.server import run_server
from tests.support.upstream import Upstream

RESOURCE = "http://127.0.0.1:9/apps/kas-daerah/"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE = f"""provider:
  exchanges:
    - id: lama-to-kas
      clients: [kas-lama]
      audiences: ["{RESOURCE}"]
"""
RULE = """provider:
  profiles:
    - id: fapi2-for-restricted-apps
      profile: fapi2
      restricted_apps: true
"""
FAPI_KEY = ec.generate_private_key(ec.SECP256R1())


async def _register_app(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="kas-daerah",
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            now=int(time.time()),
            resource=RESOURCE,
            restricted=True,  # the registry's flag: the policy files do not name the app
        )
    await engine.dispose()


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, Path]]:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    shutil.copy(HUB_POLICIES / "00-hub.yaml", policy_dir / "00-hub.yaml")
    (policy_dir / "10-exchange.yaml").write_text(EXCHANGE)
    # the app's only allow rule: restricted apps are default deny
    (policy_dir / "20-rules.yaml").write_text(
        "rules:\n  - {id: kas-open, effect: allow, match: {apps: [kas-daerah]}}\n"
    )
    with run_server(Upstream("kas-daerah")) as upstream:
        with run_hub(database_url, tmp_path, app_factory=create_app, policy_dir=policy_dir) as hub:
            asyncio.run(_register_app(database_url, hub.url, upstream))
            eventually(lambda: httpx.get(f"{hub.app_url('kas-daerah')}/echo").status_code != 404, timeout=15)
            yield hub, policy_dir


def _clients(hub: Hub) -> tuple[tuple[str, str], str]:
    """kas-lama: registered before the rule, DPoP-bound but not FAPI 2.0; kas-fapi: FAPI 2.0."""
    legacy, secret = register_client(
        hub,
        name="Kas lama",
        client_id="kas-lama",
        redirect_uris=(REDIRECT_URI,),
        grant_types=("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT, TOKEN_EXCHANGE_GRANT),
        scope="openid profile offline_access",
        resources=(RESOURCE,),
        security=ClientSecurity(dpop_bound=True),
    )
    fapi, _ = register_client(
        hub,
        name="Kas FAPI",
        client_id="kas-fapi",
        grant_types=("client_credentials",),
        scope="openid",
        auth_method="private_key_jwt",
        jwks={"keys": [{**public_jwk(FAPI_KEY), "alg": "ES256"}]},
        resources=(RESOURCE,),
        security=ClientSecurity("fapi2"),
    )
    assert secret is not None
    return (legacy, secret), fapi


def _dpop_token(hub: Hub, data: dict[str, str], key: Any, auth: tuple[str, str] | None = None) -> httpx.Response:
    """A token request with a proof, answering the server's nonce request once."""
    url = f"{hub.url}/auth/token"
    response = httpx.post(url, data=data, auth=auth, headers={"DPoP": make_proof(key, "POST", url)})
    if response.json().get("error") == "use_dpop_nonce":
        proof = make_proof(key, "POST", url, nonce=response.headers["DPoP-Nonce"])
        response = httpx.post(url, data=data, auth=auth, headers={"DPoP": proof})
    return response


def _call(hub: Hub, token: str, key: Any) -> httpx.Response:
    url = f"{hub.app_url('kas-daerah')}/echo"
    return httpx.get(
        url, headers={"Authorization": f"DPoP {token}", "DPoP": make_proof(key, "GET", url, access_token=token)}
    )


def test_a_client_outside_the_profile_gets_nothing_for_a_restricted_app_once_the_rule_is_loaded(
    city: tuple[Hub, Path],
) -> None:
    hub, policy_dir = city
    (legacy, secret), fapi = _clients(hub)
    key = ec.generate_private_key(ec.SECP256R1())
    machine = {"grant_type": "client_credentials", "resource": RESOURCE}
    # Before the rule: the legacy client works, with DPoP-bound tokens (sender-constrained is not the profile).
    before = _dpop_token(hub, machine, key, (legacy, secret))
    assert before.status_code == 200, before.text
    assert _call(hub, before.json()["access_token"], key).status_code == 200
    issued = obtain_code(hub, legacy, scope="openid profile offline_access", resource=RESOURCE)
    url = f"{hub.url}/auth/token"
    code_form = {"code": issued.code, "redirect_uri": REDIRECT_URI, "code_verifier": issued.verifier}
    user_tokens = _dpop_token(hub, {"grant_type": "authorization_code", **code_form}, key, (legacy, secret)).json()
    assert "refresh_token" in user_tokens, user_tokens

    (policy_dir / "30-profiles.yaml").write_text(RULE)
    eventually(lambda: _dpop_token(hub, machine, key, (legacy, secret)).status_code == 400, timeout=20)
    refused = _dpop_token(hub, machine, key, (legacy, secret))
    assert refused.json()["error"] == "unauthorized_client"
    assert "fapi2-for-restricted-apps" in refused.json()["error_description"]

    # The gateway refuses the tokens issued before the rule, though they are DPoP-bound and unexpired.
    old = _call(hub, before.json()["access_token"], key)
    assert old.status_code == 401 and old.headers["www-authenticate"].startswith("DPoP ")
    assert "fapi2" in old.json()["detail"]
    user_call = _call(hub, user_tokens["access_token"], key)
    assert user_call.status_code == 401

    # A refresh token from before the rule: no new token for the app.
    again = _dpop_token(
        hub, {"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]}, key, (legacy, secret)
    )
    assert again.status_code == 400 and again.json()["error"] == "unauthorized_client", again.text

    # A new authorization for the app: refused at the client's redirect URI (RFC 6749 §4.1.2.1), with iss.
    _, challenge = pkce_pair()
    denied = Browser(hub).go(authorize_url(legacy, challenge, scope="openid", resource=RESOURCE))
    assert denied.status_code == 303
    params = query_of(denied.headers["location"])
    assert (params["error"], params["state"], params["iss"]) == ("unauthorized_client", "st-123", hub.url)
    pushed = httpx.post(
        f"{hub.url}/auth/par",
        data={
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "resource": RESOURCE,
        },
        auth=(legacy, secret),
    )
    assert pushed.status_code == 400 and pushed.json()["error"] == "unauthorized_client", pushed.text

    # The device grant and token exchange reach the same audience: refused as well.
    device = httpx.post(
        f"{hub.url}/auth/device_authorization", data={"scope": "openid", "resource": RESOURCE}, auth=(legacy, secret)
    )
    assert device.status_code == 400 and device.json()["error"] == "unauthorized_client", device.text
    # Without the app's resource the client's other uses go on (it is not the app's own client): a person's
    # token for the hub itself, which the client then tries to trade for one meant for the app.
    plain = obtain_code(hub, legacy, scope="openid profile")
    plain_form = {"code": plain.code, "redirect_uri": REDIRECT_URI, "code_verifier": plain.verifier}
    own = _dpop_token(hub, {"grant_type": "authorization_code", **plain_form}, key, (legacy, secret))
    assert own.status_code == 200, own.text
    subject = own.json()["access_token"]
    traded = _dpop_token(
        hub,
        {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject,
            "subject_token_type": ACCESS,
            "resource": RESOURCE,
        },
        key,
        (legacy, secret),
    )
    assert traded.status_code == 400 and traded.json()["error"] == "unauthorized_client", traded.text

    # The FAPI 2.0 client: private_key_jwt and a DPoP-bound token carrying the profile, accepted at the gateway.
    assertion = {"client_id": fapi, "client_assertion_type": ASSERTION}
    fapi_tokens = _dpop_token(
        hub, {**machine, **assertion, "client_assertion": make_client_assertion(FAPI_KEY, fapi, url)}, key
    )
    assert fapi_tokens.status_code == 200, fapi_tokens.text
    claims = jwt.decode(fapi_tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["gerbang_profile"] == "fapi2" and claims["cnf"]["jkt"]
    assert _call(hub, fapi_tokens.json()["access_token"], key).status_code == 200
