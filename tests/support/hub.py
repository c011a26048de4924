"""A real provider on a loopback port with a seeded directory, for integration tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from gateway.cli.serve import SERVER_OPTIONS
from gateway.settings import Settings
from idp.accounts import add_user
from idp.clients import add_client
from idp.org import add_opd
from idp.passwords import hash_sync
from idp.storage.db import build_engine, build_sessionmaker
from idp.upstream_addresses import UpstreamAddresses
from tests.support.server import run_server

PASSWORD = "kata-sandi-warga-2026"
# Test upstreams run on loopback, which production settings refuse (idp.upstream_addresses): every test hub,
# and every test that registers an app directly, allows it.
LOOPBACK_UPSTREAMS = ("127.0.0.0/8", "::1/128")
TEST_UPSTREAM_ADDRESSES = UpstreamAddresses(LOOPBACK_UPSTREAMS)
# Test hubs run a policy set whose limits no test reaches; the shipped brute-force limits have their own test.
HUB_POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "policies" / "hub"


def ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(span: int = 0) -> int:
    """A loopback port nothing listens on, for a server started a moment later; ``span``: the ``span`` ports above
    it are free too. Chosen below the kernel's ephemeral range: a port the kernel hands out (``bind(0)``) is also
    what it gives the next outgoing connection as its source port, so between closing the probe and the server's
    bind, any client on the machine (a benchmark's thousands of connections) could take it ("address already in
    use"). Ports outside the range are only ever taken by an explicit bind."""
    low, _high = ephemeral_port_range()
    first, last = 15_000, min(low, 65_536) - 1 - span
    for _ in range(500):
        port = random.randint(first, last)
        probes = [socket.socket() for _ in range(span + 1)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise RuntimeError("no free port found below the ephemeral range")


@dataclass
class Seeded:
    users: dict[str, str] = field(default_factory=dict)  # email -> user id
    clients: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (client_id, secret)


async def seed(database_url: str, redirect_base: str = "http://127.0.0.1:9/cb") -> Seeded:
    engine = build_engine(database_url)
    seeded = Seeded()
    now = int(time.time())
    password_hash = hash_sync(PASSWORD)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_opd(session, "kota-palembang", "Pemerintah Kota Palembang", "kota", None, now)
        await add_opd(session, "dishub", "Dinas Perhubungan", "dinas", "kota-palembang", now)
        await add_opd(session, "bpkad", "Badan Pengelola Keuangan dan Aset Daerah", "badan", "kota-palembang", now)
        for email, name, opd, roles in [
            ("warga@example.id", "Siti Warga", None, ()),
            ("asn@dishub.example.id", "Budi ASN", "dishub", ("operator",)),
        ]:
            user = await add_user(
                session, email=email, name=name, password_hash=password_hash, now=now, opd_slug=opd, roles=roles
            )
            seeded.users[email] = user.id
        specs: list[dict[str, Any]] = [
            dict(
                name="Parkir Dishub",
                opd_slug="dishub",
                redirect_uris=(redirect_base,),
                post_logout_redirect_uris=(redirect_base + "/logged-out",),
                scope="openid profile email opd",
            ),
            dict(name="Aplikasi Publik", redirect_uris=(redirect_base,), public=True, scope="openid profile"),
            dict(name="Portal Kominfo", redirect_uris=(redirect_base,), first_party=True, scope="openid profile email"),
            dict(
                name="Bapenda Integrasi",
                opd_slug="dishub",
                grant_types=("client_credentials",),
                redirect_uris=(),
                scope="anggaran:read",
                resources=("http://127.0.0.1:9/apps/e-budgeting/",),
            ),
        ]
        for spec in specs:
            client, secret = await add_client(session, now=now, **spec)
            seeded.clients[spec["name"]] = (client.client_id, secret)
    await engine.dispose()
    return seeded


@dataclass
class Hub:
    url: str
    settings: Settings
    seeded: Seeded

    def client(self, name: str) -> tuple[str, str | None]:
        return self.seeded.clients[name]

    def app_url(self, slug: str) -> str:
        """An app's own origin on this hub (``{slug}.localhost`` with the hub's port), no trailing slash."""
        return f"http://{slug}.localhost:{urlsplit(self.url).port}"


@contextmanager
def run_hub(database_url: str, tmp_path: Any, app_factory: Any = None, **overrides: Any) -> Iterator[Hub]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    overrides.setdefault("policy_dir", HUB_POLICIES)
    overrides.setdefault("upstream_allow", LOOPBACK_UPSTREAMS)
    settings = Settings(issuer=url, database_url=database_url, data_dir=tmp_path, secret_key="t" * 40, **overrides)
    seeded = asyncio.run(seed(database_url))
    if app_factory is None:
        from idp.app import create_app as app_factory
    # As ``gerbang serve`` runs it: the guarded protocol (head and body limits on every route), and the hub
    # resolves client addresses itself (trusted_proxies), uvicorn must not.
    options = {key: value for key, value in SERVER_OPTIONS.items() if key in ("http", "proxy_headers")}
    with run_server(app_factory(settings), port=port, **options):
        yield Hub(url, settings, seeded)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def interaction_from(url: str) -> str:
    return parse_qs(urlsplit(url).query)["interaction"][0]


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    """A cookie-keeping client that follows redirects within the hub and the apps' own origins (``*.localhost``
    on the hub's port: one cookie jar, each host's cookies kept apart) but stops at any other client's."""

    def __init__(self, hub: Hub, *, agree_to_apps: bool = True) -> None:
        """``agree_to_apps``: like a citizen who agrees whenever a session app asks for her identity (the hub's
        agreement page, ``idp.app_agreement``; tests/integration/test_app_agreement.py reads it with False)."""
        self.hub = hub
        self.agree_to_apps = agree_to_apps
        self.http = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10)

    def close(self) -> None:
        self.http.close()

    def go(self, url: str) -> httpx.Response:
        return self._follow(self.http.get(url))

    def submit(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self._follow(self.http.post(url, data=data))

    def _follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303, 307, 308):
            target = response.url.join(response.headers["location"])
            ours = target.port == urlsplit(self.hub.url).port and (
                target.host == urlsplit(self.hub.url).hostname or target.host.endswith(".localhost")
            )
            if not ours:
                break
            response = self.http.get(str(target))
            if self.agree_to_apps and is_app_agreement(response):
                response = self.http.post("/auth/consent", data=agreement_form(response, "allow"))
        return response

    def login(self, page: httpx.Response, login: str, password: str = PASSWORD) -> httpx.Response:
        interaction = interaction_from(str(page.url))
        return self.submit(
            "/auth/login",
            {"login": login, "password": password, "interaction": interaction, "csrf_token": csrf_from(page.text)},
        )

    def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        return self.submit(
            "/auth/consent",
            {"decision": decision, "interaction": interaction_from(str(page.url)), "csrf_token": csrf_from(page.text)},
        )


def is_app_agreement(response: httpx.Response) -> bool:
    """The hub's page asking a person to let a session app receive her identity (``idp.app_agreement``)."""
    return response.status_code == 200 and response.url.path == "/auth/consent" and 'id="app-consent"' in response.text


def agreement_form(page: httpx.Response, decision: str) -> dict[str, str]:
    """The answer to the agreement page as its form posts it (the claims shown travel with it)."""
    claims = re.search(r'name="claims" value="([^"]*)"', page.text)
    assert claims, "not an agreement page"
    return {
        "decision": decision,
        "interaction": interaction_from(str(page.url)),
        "csrf_token": csrf_from(page.text),
        "claims": claims.group(1),
    }


def authorize_url(
    client_id: str,
    challenge: str,
    *,
    redirect_uri: str = "http://127.0.0.1:9/cb",
    scope: str = "openid profile email",
    **extra: str,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "st-123",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/auth/authorize?" + httpx.QueryParams(params).__str__()
