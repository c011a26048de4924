"""OPD apps behind the two-line integration (ASGI on uvicorn, WSGI on wsgiref) accept only hub assertions.

The JWKS comes from a real HTTP endpoint; the ASGI app fetches it asynchronously, the WSGI app with urllib.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.assertion import AssertionRejected, AssertionVerifier
from gateway.assertion_issuer import ASSERTION_TYP, HubAssertionIssuer
from gateway.model import Principal, RequestHead, Route
from idp.clock import SystemClock
from tests.support.hub_city import JwksServer, protected_asgi_app, protected_wsgi_app, run_wsgi_server
from tests.support.hub_tokens import ISSUER, RESOURCE, TestKey, unsigned_none
from tests.support.server import run_server

HUB_KEY = TestKey("hub-1")
ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota-palembang/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="session",
    resource=RESOURCE,
)
REQUEST = RequestHead(
    method="GET",
    path="/",
    query=b"",
    headers=(),
    client_ip="127.0.0.1",
    scheme="http",
    host="parkir.localhost",
    request_id="r1",
)
USER = Principal(sub="user-1", client_id="parkir-web", opd="dishub", roles=("petugas",), acr="1")


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    with run_server(JwksServer(lambda: {"keys": [HUB_KEY.jwk]}).app) as base:
        yield f"{base}/jwks"


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def upstream(request: pytest.FixtureRequest, jwks_url: str) -> Iterator[str]:
    verifier = AssertionVerifier(issuer=ISSUER, audience=RESOURCE, jwks_url=jwks_url)
    if request.param == "asgi":
        with run_server(protected_asgi_app(verifier)) as base:
            yield base
    else:
        with run_wsgi_server(protected_wsgi_app(verifier)) as base:
            yield base


def _genuine(principal: Principal = USER) -> str:
    return HubAssertionIssuer(HUB_KEY.sign, ISSUER, SystemClock()).issue(principal, ROUTE, REQUEST)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": "mallory",
        "roles": ["kepala"],
        "iat": now,
        "exp": now + 30,
        "jti": "x",
    }
    claims.update(overrides)
    return claims


async def _get(base: str, assertion: str | None) -> tuple[int, dict[str, Any], str]:
    headers = {"X-Gerbang-Assertion": assertion} if assertion is not None else {}
    async with aiohttp.ClientSession() as session, session.get(f"{base}/tiket/1", headers=headers) as response:
        return response.status, await response.json(content_type=None), response.headers.get("Content-Type", "")


async def test_genuine_assertion_passes_and_identity_reaches_the_app(upstream: str) -> None:
    status, body, _ = await _get(upstream, _genuine())
    assert status == 200
    assert body == {"sub": "user-1", "opd": "dishub", "roles": ["petugas"]}


async def test_anonymous_assertion_of_a_public_app_passes(upstream: str) -> None:
    status, body, _ = await _get(upstream, _genuine(Principal()))
    assert status == 200
    assert body["sub"] is None


async def test_missing_assertion_is_401(upstream: str) -> None:
    status, body, content_type = await _get(upstream, None)
    assert status == 401
    assert content_type == "application/problem+json"
    assert body["status"] == 401


@pytest.mark.parametrize("forgery", ["throwaway-key", "expired", "wrong-audience", "alg-none", "lives-too-long"])
async def test_forged_expired_or_misdirected_assertions_are_403(upstream: str, forgery: str) -> None:
    now = int(time.time())
    token = {
        "throwaway-key": lambda: TestKey("hub-1").sign(_claims(), typ=ASSERTION_TYP),
        "expired": lambda: HUB_KEY.sign(_claims(iat=now - 100, exp=now - 70), typ=ASSERTION_TYP),
        "wrong-audience": lambda: HUB_KEY.sign(_claims(aud="http://ebudgeting.localhost:8000/"), typ=ASSERTION_TYP),
        "alg-none": lambda: unsigned_none(HUB_KEY, _claims(), typ=ASSERTION_TYP),
        "lives-too-long": lambda: HUB_KEY.sign(_claims(exp=now + 3600), typ=ASSERTION_TYP),
    }[forgery]()
    status, body, _ = await _get(upstream, token)
    assert status == 403
    assert "detail" in body


async def test_websocket_needs_an_assertion(jwks_url: str) -> None:
    verifier = AssertionVerifier(issuer=ISSUER, audience=RESOURCE, jwks_url=jwks_url)
    with run_server(protected_asgi_app(verifier)) as base:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{base.replace('http', 'ws')}/ws")
            assert refused.value.status == 403
            async with session.ws_connect(
                f"{base.replace('http', 'ws')}/ws", headers={"X-Gerbang-Assertion": _genuine()}
            ) as ws:
                assert (await ws.receive_json())["sub"] == "user-1"


def test_opd_verifier_follows_a_hub_key_rotation_and_resists_kid_spray() -> None:
    published = [HUB_KEY.jwk]
    server = JwksServer(lambda: {"keys": list(published)})
    with run_server(server.app) as base:
        sprayer = TestKey("x")
        spray = []
        for i in range(100):
            sprayer.kid = f"spray-{i}"
            spray.append(sprayer.sign(_claims(), typ=ASSERTION_TYP))
        verifier = AssertionVerifier(issuer=ISSUER, audience=RESOURCE, jwks_url=f"{base}/jwks", min_refresh_seconds=0.5)
        assert verifier.verify(_genuine()).sub == "user-1"
        for token in spray:  # made-up kids: no refetch within the interval
            with pytest.raises(AssertionRejected):
                verifier.verify(token)
        assert server.fetches == 1
        rotated = TestKey("hub-2")
        published.append(rotated.jwk)
        time.sleep(0.55)
        token = HubAssertionIssuer(rotated.sign, ISSUER, SystemClock()).issue(USER, ROUTE, REQUEST)
        assert verifier.verify(token).sub == "user-1"
        assert server.fetches == 2
