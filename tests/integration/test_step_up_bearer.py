"""Step-up for a ``bearer`` API (RFC 9470), end to end: a real policy, a real token, a real second factor.

``tests/integration/proxy/test_steps.py`` checks the challenge with injected steps; here Kominfo's policy
file requires ``acr`` 2 for the pajak API, a citizen's password-only token is refused with the RFC 9470
challenge, and a token from a stepped-up sign-in (``acr_values=2``, TOTP) is let through.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.app import create_app
from gateway.apps import add_app
from idp.clock import FrozenClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Client
from tests.support.clock import app_with_clock
from tests.support.hub import (
    TEST_UPSTREAM_ADDRESSES,
    Browser,
    Hub,
    authorize_url,
    csrf_from,
    pkce_pair,
    query_of,
    run_hub,
)
from tests.support.records import rows, update_row
from tests.support.server import run_server
from tests.support.totp_steps import code_at, enrol_totp, sign_in_directly
from tests.support.upstream import Upstream

WARGA = "warga@example.id"
CLIENT = "Portal Kominfo"


async def register_pajak(database_url: str, issuer: str, upstream: str) -> str:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        app = await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="pajak",
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            now=int(time.time()),
        )
    await engine.dispose()
    return app.resource


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def city(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Hub, Upstream, str]]:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "apps.yaml").write_text('apps:\n  - slug: pajak\n    require_acr: "2"\n')
    upstream = Upstream("pajak")
    with run_server(upstream) as upstream_url:
        with run_hub(
            database_url, tmp_path, app_factory=app_with_clock(clock, create_app), policy_dir=policy_dir
        ) as hub:
            resource = asyncio.run(register_pajak(database_url, hub.url, upstream_url))
            client_pk = rows(database_url, Client, Client.client_id == hub.client(CLIENT)[0])[0].id
            update_row(database_url, Client, client_pk, resources=[resource])
            deadline = time.monotonic() + 15  # the registry refreshes in the background
            while httpx.get(f"{hub.app_url('pajak')}/echo").status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
            yield hub, upstream, resource


def access_token(hub: Hub, location: str, verifier: str, resource: str) -> str:
    client_id, secret = hub.client(CLIENT)
    response = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret or ""),
        data={
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier,
            "resource": resource,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_password_token_gets_the_rfc9470_challenge_and_a_stepped_up_token_passes(
    city: tuple[Hub, Upstream, str], clock: FrozenClock
) -> None:
    hub, upstream, resource = city
    client_id, _ = hub.client(CLIENT)
    browser = Browser(hub)
    sign_in_directly(browser, WARGA)  # level 1
    secret, _codes = enrol_totp(browser, clock)
    clock.advance(30)

    verifier, challenge = pkce_pair()
    done = browser.go(authorize_url(client_id, challenge, resource=resource))
    assert done.status_code == 303, done.text
    weak = access_token(hub, done.headers["location"], verifier, resource)
    assert jwt.decode(weak, options={"verify_signature": False})["acr"] == "1"
    refused = httpx.get(f"{hub.app_url('pajak')}/echo", headers={"Authorization": f"Bearer {weak}"})
    assert refused.status_code == 401
    challenge_header = refused.headers["www-authenticate"]
    assert challenge_header.startswith("Bearer ")
    assert 'error="insufficient_user_authentication"' in challenge_header and 'acr_values="2"' in challenge_header
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert json.loads(refused.text)["status"] == 401
    assert upstream.hits == 0

    verifier, challenge = pkce_pair()  # what the client does with the challenge: ask again with acr_values
    page = browser.go(authorize_url(client_id, challenge, resource=resource, acr_values="2"))
    assert page.status_code == 200 and str(page.url.path) == "/auth/mfa", page.text
    done = browser.submit(
        "/auth/mfa", {"code": code_at(secret, clock.now()), "method": "totp", "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 303, done.text
    strong = access_token(hub, done.headers["location"], verifier, resource)
    allowed = httpx.get(f"{hub.app_url('pajak')}/echo", headers={"Authorization": f"Bearer {strong}"})
    assert allowed.status_code == 200, allowed.text
    assertion = dict(json.loads(allowed.text)["headers"])["x-gerbang-assertion"]
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["acr"] == "2" and claims["sub"] == hub.seeded.users[WARGA] and claims["aud"] == resource
    browser.close()
