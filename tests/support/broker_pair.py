"""Two real hubs on loopback: an upstream Gerbang standing in for INApas and the city's hub brokering to it, one at
``127.0.0.1`` and the other at ``localhost`` (different host names so their cookies stay apart, as two sites' do)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import Settings
from idp.accounts import add_user
from idp.clients import add_client
from idp.federation.registry import UpstreamSpec, add_upstream
from idp.passwords import hash_sync
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import HUB_POLICIES, PASSWORD, TEST_UPSTREAM_ADDRESSES, Hub, free_port, seed
from tests.support.server import run_server

SLUG = "inapas"
SECRET_KEY = "t" * 40
REDIRECT_URI = "http://127.0.0.1:9/cb"
NEW_CITIZEN = "baru@example.id"  # only upstream: a first sign-in creates the account
UNVERIFIED = "tamu@example.id"  # upstream says unverified; the hub has an account with this email


@dataclass
class BrokerPair:
    upstream: Hub
    broker: Hub
    upstream_client_id: str


async def _run(database_url: str, coro: Any) -> Any:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            return await coro(session)
    finally:
        await engine.dispose()


def in_database(database_url: str, operation: Any) -> Any:
    """``operation(session)`` in one transaction against ``database_url``."""
    return asyncio.run(_run(database_url, operation))


def seed_upstream(database_url: str, broker_url: str) -> tuple[str, str]:
    async def op(session: Any) -> tuple[str, str]:
        now = int(time.time())
        password_hash = hash_sync(PASSWORD)
        await add_user(
            session, email=NEW_CITIZEN, name="Rina Baru", password_hash=password_hash, now=now, nik="1671015203950009"
        )
        await add_user(
            session, email=UNVERIFIED, name="Tamu", password_hash=password_hash, now=now, email_verified=False
        )
        client, secret = await add_client(
            session,
            name="Gerbang Kota Palembang",
            now=now,
            client_id="gerbang-palembang",
            first_party=True,
            redirect_uris=(f"{broker_url}/auth/broker/{SLUG}/callback",),
            post_logout_redirect_uris=(f"{broker_url}/auth/broker/logged-out",),
            backchannel_logout_uri=f"{broker_url}/auth/broker/{SLUG}/backchannel-logout",
            scope="openid profile email nik nip",
            auth_method="client_secret_basic",
        )
        assert secret is not None
        return client.client_id, secret

    return in_database(database_url, op)


def register_upstream(database_url: str, upstream_url: str, client_id: str, client_secret: str, **spec: Any) -> None:
    async def op(session: Any) -> None:
        await add_upstream(
            session,
            SLUG,
            UpstreamSpec(
                name="INApas",
                issuer=upstream_url,
                client_id=client_id,
                client_secret=client_secret,
                **{"link_by": "email", **spec},
            ),
            secret=SECRET_KEY.encode(),
            actor="test",
            now=int(time.time()),
            addresses=TEST_UPSTREAM_ADDRESSES,
        )

    in_database(database_url, op)


@contextmanager
def run_broker_pair(
    database_url: str, upstream_database_url: str, tmp_path: Path, broker_host: str = "127.0.0.1", **upstream_spec: Any
) -> Iterator[BrokerPair]:
    """``broker_host`` "localhost" puts the hub there (WebAuthn refuses IP addresses) and the upstream at 127.0.0.1."""
    from idp.app import create_app

    upstream_host = "localhost" if broker_host == "127.0.0.1" else "127.0.0.1"
    broker_port, upstream_port = free_port(), free_port()
    broker_url, upstream_url = f"http://{broker_host}:{broker_port}", f"http://{upstream_host}:{upstream_port}"
    broker_seeded = asyncio.run(seed(database_url))
    upstream_seeded = asyncio.run(seed(upstream_database_url))
    client_id, client_secret = seed_upstream(upstream_database_url, broker_url)
    in_database(database_url, lambda s: _add_local(s, UNVERIFIED, "Tamu Lokal"))
    register_upstream(database_url, upstream_url, client_id, client_secret, **upstream_spec)
    (tmp_path / "up").mkdir(exist_ok=True)
    (tmp_path / "br").mkdir(exist_ok=True)
    up_settings = Settings(
        issuer=upstream_url,
        database_url=upstream_database_url,
        data_dir=tmp_path / "up",
        secret_key="u" * 40,
        policy_dir=HUB_POLICIES,
        key_refresh_seconds=0.5,
    )
    br_settings = Settings(
        issuer=broker_url,
        database_url=database_url,
        data_dir=tmp_path / "br",
        secret_key=SECRET_KEY,
        policy_dir=HUB_POLICIES,
        federation_timeout=2.0,
    )
    with ExitStack() as stack:
        stack.enter_context(run_server(create_app(up_settings), port=upstream_port))
        stack.enter_context(run_server(create_app(br_settings), port=broker_port))
        yield BrokerPair(
            Hub(upstream_url, up_settings, upstream_seeded), Hub(broker_url, br_settings, broker_seeded), client_id
        )


async def _add_local(session: Any, email: str, name: str) -> None:
    await add_user(session, email=email, name=name, password_hash=hash_sync(PASSWORD), now=int(time.time()))


class TwoSiteBrowser:
    """A cookie-keeping client that follows redirects between the two hubs and stops at the relying party's."""

    def __init__(self, pair: BrokerPair) -> None:
        self.pair = pair
        self.http = httpx.Client(follow_redirects=False, timeout=15)
        self.page: httpx.Response | None = None

    def close(self) -> None:
        self.http.close()

    def _follow(self, response: httpx.Response) -> httpx.Response:
        hubs = (self.pair.broker.url, self.pair.upstream.url)
        while response.status_code in (302, 303):
            location = str(response.url.join(response.headers["location"]))
            if not location.startswith(hubs):
                break
            response = self.http.get(location)
        self.page = response
        return response

    def go(self, url: str) -> httpx.Response:
        return self._follow(self.http.get(url if url.startswith("http") else self.pair.broker.url + url))

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self._follow(self.http.post(url, data=data))

    def upstream_login(self, page: httpx.Response, login: str, password: str = PASSWORD) -> httpx.Response:
        """Sign in on the upstream's own page (the person is at INApas now)."""
        assert str(page.url).startswith(self.pair.upstream.url) and page.url.path == "/auth/login", page.url
        interaction = page.url.params["interaction"]
        return self.post(
            f"{self.pair.upstream.url}/auth/login",
            {"login": login, "password": password, "interaction": interaction, "csrf_token": csrf(page.text)},
        )

    def confirm(self, page: httpx.Response, decision: str = "confirm", **fields: str) -> httpx.Response:
        return self.post(
            f"{self.pair.broker.url}/auth/broker/confirm",
            {"decision": decision, "csrf_token": csrf(page.text), **fields},
        )


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)
