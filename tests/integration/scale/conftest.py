"""Several real ``gerbang serve`` processes sharing one PostgreSQL database, in front of a tiny upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.apps import add_app
from idp.clients import add_client
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import (
    PASSWORD,
    TEST_UPSTREAM_ADDRESSES,
    Seeded,
    authorize_url,
    csrf_from,
    free_port,
    interaction_from,
    pkce_pair,
    query_of,
    seed,
)
from tests.support.instances import City, new_city
from tests.support.localhost_names import app_url
from tests.support.server import run_server
from tests.support.services import drop_pg_database, new_pg_database
from tests.support.upstream import Upstream

REDIRECT_URI = "http://127.0.0.1:9/cb"


@dataclass
class Town:
    """A seeded city: the bearer app ``parkir`` in front of ``upstream``, and a first-party client for it."""

    city: City
    seeded: Seeded
    upstream: Upstream
    client_id: str
    client_secret: str

    @property
    def resource(self) -> str:
        return f"{app_url(self.city.issuer, 'parkir')}/"

    def service_token(self, base: str) -> str:
        """An access token for ``parkir`` from the client_credentials grant at ``base``."""
        response = httpx.post(
            f"{base}/auth/token",
            auth=(self.client_id, self.client_secret),
            timeout=10,
            data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": self.resource},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture
def pg_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated PostgreSQL database (several processes share it: SQLite is the one-process default)."""
    name, url = new_pg_database(template=request.getfixturevalue("_pg_template"))
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, str]]:
    app = Upstream("parkir")
    with run_server(app) as url:
        yield app, url


def build_town(database_url: str, root: Path, upstream: tuple[Upstream, str], issuer: str | None = None) -> Town:
    city = new_city(database_url, root, issuer)
    seeded = asyncio.run(seed(database_url))
    client_id, secret = asyncio.run(_register(database_url, city.issuer, upstream[1]))
    return Town(city, seeded, upstream[0], client_id, secret)


@pytest.fixture
def town(pg_database_url: str, tmp_path: Path, upstream: tuple[Upstream, str]) -> Town:
    """Issuer = the first instance's address (``free_port`` reserved for it): ``instances`` starts it there."""
    return build_town(pg_database_url, tmp_path, upstream, f"http://127.0.0.1:{free_port()}")


async def _register(database_url: str, issuer: str, upstream_url: str) -> tuple[str, str]:
    engine = build_engine(database_url)
    now = int(time.time())
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="parkir",
            opd_slug="dishub",
            upstreams=(upstream_url,),
            auth_mode="bearer",
            issuer=issuer,
            now=now,
        )
        client, secret = await add_client(
            session,
            name="Parkir Web",
            now=now,
            opd_slug="dishub",
            redirect_uris=(REDIRECT_URI,),
            grant_types=("authorization_code", "refresh_token", "client_credentials"),
            scope="openid profile email parkir:read",
            first_party=True,
            resources=(f"{app_url(issuer, 'parkir')}/",),
        )
    await engine.dispose()
    assert secret is not None
    return client.client_id, secret


def authorize(http: httpx.Client, town: Town, **extra: str) -> tuple[httpx.Response, str]:
    """GET the authorization endpoint at ``http``'s instance (following its own redirects); (answer, verifier)."""
    verifier, challenge = pkce_pair()
    answer = http.get(authorize_url(town.client_id, challenge, resource=town.resource, **extra))
    while answer.status_code in (302, 303) and answer.headers["location"].startswith("/"):
        answer = http.get(answer.headers["location"])
    return answer, verifier


def sign_in(http: httpx.Client, town: Town, login: str = "asn@dishub.example.id") -> tuple[dict[str, str], str]:
    """Sign in at ``http``'s instance; the authorization response's query (code, state, iss) and the verifier."""
    page, verifier = authorize(http, town)
    assert page.status_code == 200 and 'name="password"' in page.text, page.text[:500]
    done = http.post(
        "/auth/login",
        data={
            "login": login,
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "interaction": interaction_from(str(page.url)),
        },
    )
    while done.status_code in (302, 303) and done.headers["location"].startswith("/"):
        done = http.get(done.headers["location"])
    assert done.status_code in (302, 303) and done.headers["location"].startswith(REDIRECT_URI), done.text[:500]
    return query_of(done.headers["location"]), verifier


def redeem(base: str, town: Town, code: str, verifier: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/auth/token",
        auth=(town.client_id, town.client_secret),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
