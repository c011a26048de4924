"""Upstream identity providers are held to ``idp.upstream_addresses``: the issuer at registration (registry, CLI,
admin API), every endpoint the discovery document names, and every socket the hub opens toward them (discovery,
JWKS, token, userinfo), after name resolution. A real upstream on loopback is refused unless Kominfo allows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.cli import main
from idp.errors import InvalidInput
from idp.federation.discovery import UpstreamDirectory, UpstreamUnavailable
from idp.federation.registry import UpstreamSpec, add_upstream, update_upstream
from idp.upstream_addresses import UpstreamAddresses
from tests.support.broker_pair import in_database
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.server import run_server

DEFAULTS = UpstreamAddresses()  # what a hub allows when Kominfo sets nothing
LOOPBACK_ONLY = UpstreamAddresses(["127.0.0.0/8"])  # the issuer's address allowed, nothing more
DOCUMENT: dict[str, Any] = {}  # the discovery document the fake upstream serves (each test sets it)


async def _discovery(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


async def _jwks(request: Request) -> JSONResponse:
    return JSONResponse({"keys": []})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = Starlette(
        routes=[Route("/.well-known/openid-configuration", _discovery), Route("/jwks", _jwks, methods=["GET", "POST"])]
    )
    with run_server(app) as url:
        yield url


def document(issuer: str, **overrides: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/userinfo",
        **overrides,
    }


def spec(issuer: str) -> UpstreamSpec:
    return UpstreamSpec(name="INApas", issuer=issuer, client_id="c", client_secret="s" * 20)


def _add(database_url: str, issuer: str, addresses: UpstreamAddresses) -> None:
    in_database(
        database_url,
        lambda s: add_upstream(
            s, "inapas", spec(issuer), secret=b"k" * 40, actor="test", now=int(time.time()), addresses=addresses
        ),
    )


@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://169.254.169.254", "https://idp.localhost"],
)
def test_registration_refuses_an_issuer_at_a_refused_address(database_url: str, issuer: str) -> None:
    with pytest.raises(InvalidInput, match="issuer: upstream address refused"):
        _add(database_url, issuer, DEFAULTS)


def test_registration_accepts_loopback_when_allowed_and_update_checks_again(database_url: str) -> None:
    _add(database_url, "http://127.0.0.1:9", TEST_UPSTREAM_ADDRESSES)
    with pytest.raises(InvalidInput, match="link-local"):
        in_database(
            database_url,
            lambda s: update_upstream(
                s,
                "inapas",
                UpstreamSpec(issuer="https://169.254.169.254"),
                secret=b"k" * 40,
                actor="test",
                now=int(time.time()),
                addresses=TEST_UPSTREAM_ADDRESSES,
            ),
        )


def test_cli_refuses_a_loopback_issuer_unless_allowed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"GERBANG_DATABASE_URL": database_url, "GERBANG_DATA_DIR": str(tmp_path), "GERBANG_SECRET_KEY": "k" * 40}
    args = ["idps", "add", "--slug", "inapas", "--name", "INApas", "--client-id", "c", "--client-secret-stdin"]
    monkeypatch.delenv("GERBANG_UPSTREAM_ALLOW", raising=False)
    refused = CliRunner().invoke(main, [*args, "--issuer", "http://127.0.0.1:9"], env=env, input="s" * 20 + "\n")
    assert refused.exit_code == 1 and "loopback" in refused.output, refused.output
    monkeypatch.setenv("GERBANG_UPSTREAM_ALLOW", "127.0.0.0/8")
    allowed = CliRunner().invoke(main, [*args, "--issuer", "http://127.0.0.1:9"], env=env, input="s" * 20 + "\n")
    assert allowed.exit_code == 0, allowed.output


def test_discovery_of_a_loopback_upstream_is_refused_at_connect_time(upstream: str) -> None:
    DOCUMENT.clear()
    DOCUMENT.update(document(upstream))
    assert asyncio.run(UpstreamDirectory(2.0, 60, LOOPBACK_ONLY).metadata(upstream)).issuer == upstream
    with pytest.raises(UpstreamUnavailable, match="address refused"):
        asyncio.run(UpstreamDirectory(2.0, 60, DEFAULTS).metadata(upstream))


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"])
@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/x", "http://100.100.100.200/x", "http://[::ffff:169.254.169.254]/x", "file:///x"]
)
def test_a_discovery_document_naming_a_refused_endpoint_is_refused_whole(
    upstream: str, endpoint: str, target: str
) -> None:
    DOCUMENT.clear()
    DOCUMENT.update(document(upstream, **{endpoint: target}))
    with pytest.raises(UpstreamUnavailable, match=endpoint):
        asyncio.run(UpstreamDirectory(2.0, 60, LOOPBACK_ONLY).metadata(upstream))


def test_end_session_endpoint_is_checked_too(upstream: str) -> None:
    DOCUMENT.clear()
    DOCUMENT.update(document(upstream, end_session_endpoint="http://169.254.169.254/logout"))
    with pytest.raises(UpstreamUnavailable, match="end_session_endpoint"):
        asyncio.run(UpstreamDirectory(2.0, 60, LOOPBACK_ONLY).metadata(upstream))


@pytest.mark.parametrize("host", ["127.0.0.1", "rebound.localhost"])
def test_every_back_channel_call_is_refused_after_resolution(upstream: str, host: str) -> None:
    """Token, userinfo and JWKS calls open their sockets through the same rules, whatever a name resolves to
    when the call is made (``*.localhost`` resolves to 127.0.0.1 here: a name rebound to loopback)."""
    port = upstream.rsplit(":", 1)[1]
    directory = UpstreamDirectory(2.0, 60, DEFAULTS)
    for method in ("GET", "POST"):
        with pytest.raises(UpstreamUnavailable, match="address refused"):
            asyncio.run(directory.fetch_json(method, f"http://{host}:{port}/jwks"))
    status, body = asyncio.run(
        UpstreamDirectory(2.0, 60, LOOPBACK_ONLY).fetch_json("GET", f"http://{host}:{port}/jwks")
    )
    assert status == 200 and body == {"keys": []}


def test_admin_api_refuses_a_refused_issuer_as_a_problem(database_url: str, tmp_path: Path) -> None:
    from gateway.app import create_app
    from tests.support.admin import KOMINFO, AdminClient, admin_token, run_seed
    from tests.support.hub import run_hub

    with run_hub(database_url, tmp_path, app_factory=create_app, upstream_allow=()) as hub:  # production's rules
        run_seed(database_url, hub.seeded.users)
        kominfo = AdminClient(hub, admin_token(hub, KOMINFO))
        body = {"slug": "inapas", "name": "INApas", "issuer": "https://127.0.0.1:9443/oidc", "client_id": "c"}
        refused = kominfo.post("/idps", body)
        assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
        assert "loopback" in refused.text
        created = kominfo.post("/idps", {**body, "issuer": "https://10.20.0.5/oidc"})  # an OPD's private range
        assert created.status_code == 201, created.text
        moved = kominfo.http.patch("/idps/inapas", json={"issuer": "https://169.254.169.254/oidc"})
        assert moved.status_code == 400 and "link-local" in moved.text
        assert kominfo.get("/idps/inapas").json()["issuer"] == "https://10.20.0.5/oidc"
        kominfo.close()
