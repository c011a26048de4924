"""``gerbang apps add|list|audit`` against a real database and real upstream servers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.assertion import AssertionVerifier
from gateway.cli import main
from gateway.registry import AppRegistry
from idp.clients import ClientSecurity, add_client
from idp.clock import SystemClock
from idp.dpop.client import public_jwk
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.eventually import eventually_async
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.hub_city import SECRET, JwksServer, open_asgi_app, protected_asgi_app, seed_opd
from tests.support.server import run_server

ISSUER = "http://127.0.0.1:8000"


async def _seed(database_url: str) -> KeyRing:
    engine = build_engine(database_url)
    try:
        maker = build_sessionmaker(engine)
        await seed_opd(maker, 1_800_000_000)
        async with maker() as session, session.begin():
            await add_client(  # FAPI 2.0: the shipped rule fapi2-for-restricted-apps binds restricted apps' clients
                session,
                name="Parkir",
                client_id="parkir-web",
                redirect_uris=("http://127.0.0.1/cb",),
                now=1_800_000_000,
                auth_method="private_key_jwt",
                jwks={"keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()))]},
                security=ClientSecurity("fapi2"),
            )
        ring = KeyRing(maker, SECRET.encode(), "ES256", SystemClock())
        await ring.load()  # the hub's signing key, as `gerbang serve` would create it
        return ring
    finally:
        await engine.dispose()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KeyRing:
    monkeypatch.setenv("GERBANG_DATABASE_URL", database_url)
    monkeypatch.setenv("GERBANG_SECRET_KEY", SECRET)
    monkeypatch.setenv("GERBANG_ISSUER", ISSUER)
    monkeypatch.setenv("GERBANG_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no stray gerbang.toml
    return asyncio.run(_seed(database_url))


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _add(slug: str, upstream: str, *extra: str) -> dict[str, Any]:
    result = _run(
        "apps", "add", "--slug", slug, "--opd", "dishub", "--upstream", upstream, "--auth", "none", "--json", *extra
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_add_prints_one_json_object_with_the_new_id(hub: KeyRing) -> None:
    record = _add(
        "parkir",
        "http://127.0.0.1:9001/",
        "--upstream",
        "http://127.0.0.1:9002",
        "--client",
        "parkir-web",
        "--host",
        "Parkir.Palembang.go.id",
        "--restricted",
    )
    assert isinstance(record["id"], int)
    assert record["upstreams"] == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    assert record["resource"] == "http://parkir.localhost:8000/"
    assert record["hosts"] == ["parkir.localhost", "parkir.palembang.go.id"]
    assert (record["client_id"], record["restricted"], record["opd"]) == ("parkir-web", True, "dishub")
    listed = json.loads(_run("apps", "list", "--json").stdout)
    assert [app["slug"] for app in listed["apps"]] == ["parkir"]
    assert "parkir" in _run("apps", "list").stdout


BAD_INPUT = [
    (("--slug", "Parkir!"), "slug"),
    (("--opd", "dinas-hilang"), "OPD 'dinas-hilang' does not exist"),
    (("--upstream", "ftp://127.0.0.1/"), "upstream must be an absolute http(s) URL"),
    (("--client", "no-such-client"), "client 'no-such-client' does not exist"),
    (("--resource", "not a uri"), "resource"),
    (("--host", "10.0.0.1"), "host"),
]


def test_bad_input_is_one_line_error_and_exit_1(hub: KeyRing) -> None:
    for args, message in BAD_INPUT:  # one database for all cases: each refusal must leave it untouched
        base = {"--slug": "parkir", "--opd": "dishub", "--upstream": "http://127.0.0.1:9001", "--auth": "bearer"}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        result = _run("apps", "add", *[part for pair in base.items() for part in pair], "--json")
        assert result.exit_code == 1, args
        assert result.stdout == ""
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert json.loads(_run("apps", "list", "--json").stdout) == {"apps": []}


def test_duplicate_slug_is_refused(hub: KeyRing) -> None:
    _add("parkir", "http://127.0.0.1:9001")
    result = _run(
        "apps", "add", "--slug", "parkir", "--opd", "dishub", "--upstream", "http://127.0.0.1:9003", "--auth", "none"
    )
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_suspend_and_resume(hub: KeyRing) -> None:
    _add("parkir", "http://127.0.0.1:9001")
    suspended = _run("apps", "suspend", "--slug", "parkir", "--json")
    assert json.loads(suspended.stdout)["status"] == "suspended"
    assert json.loads(_run("apps", "list", "--json").stdout)["apps"][0]["status"] == "suspended"
    assert json.loads(_run("apps", "resume", "--slug", "parkir", "--json").stdout)["status"] == "active"
    missing = _run("apps", "suspend", "--slug", "hilang")
    assert missing.exit_code == 1 and missing.stderr == "error: app 'hilang' does not exist\n"


@pytest.fixture
def jwks_url(hub: KeyRing) -> Iterator[str]:
    with run_server(JwksServer(hub.jwks).app) as base:
        yield f"{base}/jwks"


def test_audit_passes_when_every_upstream_refuses_direct_calls(hub: KeyRing, jwks_url: str) -> None:
    verifier = AssertionVerifier(issuer=ISSUER, audience="http://parkir.localhost:8000/", jwks_url=jwks_url)
    with run_server(protected_asgi_app(verifier)) as protected:
        _add("parkir", protected)
        result = _run("apps", "audit", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.stdout
    assert report["ok"] is True and report["reachable_around_hub"] == []
    statuses = {probe["probe"]: probe["status"] for probe in report["apps"][0]["probes"]}
    assert statuses == {"no-assertion": 401, "forged": 403, "expired": 403, "wrong-audience": 403}


def test_audit_flags_upstreams_reachable_around_the_hub(hub: KeyRing, jwks_url: str) -> None:
    guarded = AssertionVerifier(issuer=ISSUER, audience="http://parkir.localhost:8000/", jwks_url=jwks_url)
    lax = AssertionVerifier(
        issuer=ISSUER, audience="http://cctv.localhost:8000/", jwks_url=jwks_url, leeway=10**6
    )  # never looks at expiry
    with (
        run_server(protected_asgi_app(guarded)) as protected,
        run_server(open_asgi_app()) as unprotected,
        run_server(protected_asgi_app(lax)) as careless,
        run_server(_audience_blind_app(hub.jwks())) as audience_blind,
    ):
        _add("parkir", protected)
        _add("ebudgeting", protected, "--upstream", unprotected)
        _add("cctv", careless)
        _add("arsip", f"http://127.0.0.1:{_closed_port()}")
        _add("sipd", audience_blind)
        result = _run("apps", "audit", "--json")
        human = _run("apps", "audit")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["ok"] is False
    assert sorted(report["reachable_around_hub"]) == ["cctv", "ebudgeting", "sipd"]
    by_slug = {app["slug"]: app for app in report["apps"]}
    cctv = {probe["probe"]: probe["status"] for probe in by_slug["cctv"]["probes"]}
    assert cctv["expired"] == 200 and cctv["forged"] == 403
    sipd = {probe["probe"]: probe["status"] for probe in by_slug["sipd"]["probes"]}
    assert sipd == {"no-assertion": 403, "forged": 403, "expired": 403, "wrong-audience": 200}
    arsip = by_slug["arsip"]
    assert arsip["reachable_around_hub"] is False
    assert all(probe["status"] is None and probe["error"].startswith("unreachable") for probe in arsip["probes"])
    assert human.exit_code == 1
    assert "ebudgeting: REACHABLE AROUND THE HUB" in human.stdout


def _audience_blind_app(jwks: dict[str, Any]) -> Starlette:
    """An OPD app that checks signature and expiry but forgets the audience: any app's traffic passes."""
    keys = {jwk["kid"]: jwt.PyJWK(jwk).key for jwk in jwks["keys"]}

    async def endpoint(request: Request) -> Response:
        token = request.headers.get("x-gerbang-assertion", "")
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            jwt.decode(token, keys[kid], algorithms=["ES256"], options={"verify_aud": False})
        except (jwt.PyJWTError, KeyError):
            return Response(status_code=403)
        return Response("welcome")

    return Starlette(routes=[Route("/{path:path}", endpoint)])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_running_gateway_sees_cli_changes_without_restart(hub: KeyRing, database_url: str) -> None:
    engine = build_engine(database_url)
    registry = AppRegistry(
        build_sessionmaker(engine), ISSUER, SystemClock(), refresh_seconds=0.05, addresses=TEST_UPSTREAM_ADDRESSES
    )
    await registry.start()
    try:
        assert registry.lookup("parkir.localhost", "/") is None
        await asyncio.to_thread(_add, "parkir", "http://127.0.0.1:9001")
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/") is not None)
        await asyncio.to_thread(_run, "apps", "suspend", "--slug", "parkir")
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/")[0].status == "suspended")
        await asyncio.to_thread(_run, "apps", "resume", "--slug", "parkir")
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/")[0].status == "active")
    finally:
        await registry.stop()
        await engine.dispose()


@pytest.mark.parametrize(
    "special_upstream",
    [
        "http://169.254.169.254/",
        "http://[fe80::1]:8080",
        "http://127.0.0.1:9001",
        "http://localhost:9001",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_add_refuses_link_local_and_loopback_upstreams_unless_kominfo_allows_them(
    hub: KeyRing, monkeypatch: pytest.MonkeyPatch, special_upstream: str
) -> None:
    monkeypatch.delenv("GERBANG_UPSTREAM_ALLOW", raising=False)
    result = _run(
        "apps", "add", "--slug", "meta", "--opd", "dishub", "--upstream", special_upstream, "--auth", "none", "--json"
    )
    assert result.exit_code == 1
    assert "GERBANG_UPSTREAM_ALLOW" in result.stderr and result.stdout == ""
    assert json.loads(_run("apps", "list", "--json").stdout) == {"apps": []}
    monkeypatch.setenv("GERBANG_UPSTREAM_ALLOW", "169.254.169.254/32, fe80::/10, 127.0.0.0/8, ::1/128")
    assert _add("meta", special_upstream)["upstreams"] == [special_upstream.rstrip("/")]


def test_add_refuses_private_ranges_kominfo_denies(hub: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GERBANG_UPSTREAM_DENY", "10.0.0.0/8")
    result = _run(
        "apps", "add", "--slug", "parkir", "--opd", "dishub", "--upstream", "http://10.0.3.5:8080", "--auth", "none"
    )
    assert result.exit_code == 1 and "GERBANG_UPSTREAM_DENY" in result.stderr
    assert _add("parkir", "http://192.168.10.5:8080")["upstreams"] == ["http://192.168.10.5:8080"]


def test_add_records_path_and_websocket_settings(hub: KeyRing) -> None:
    record = _add(
        "iis",
        "http://127.0.0.1:9001",
        "--case-insensitive-paths",
        "--allow-ambiguous-paths",
        "--websocket-origin",
        "https://Peta.Palembang.go.id",
        "--websocket-origin",
        "http://127.0.0.1:3000",
    )
    assert record["case_insensitive_paths"] is True and record["allow_ambiguous_paths"] is True
    assert record["websocket_origins"] == ["https://peta.palembang.go.id", "http://127.0.0.1:3000"]
    result = _run(
        "apps",
        "add",
        "--slug",
        "bad",
        "--opd",
        "dishub",
        "--upstream",
        "http://127.0.0.1:9001",
        "--auth",
        "none",
        "--websocket-origin",
        "https://peta.palembang.go.id/path",
    )
    assert result.exit_code == 1 and "origin" in result.stderr


class CountingApp:
    def __init__(self) -> None:
        self.hits = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"open"})


def test_audit_probes_only_approved_apps(hub: KeyRing, database_url: str) -> None:
    from gateway.apps import add_app

    pending_upstream = CountingApp()

    async def submit(upstream: str) -> None:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="baru",
                opd_slug="dishub",
                upstreams=(upstream,),
                auth_mode="none",
                issuer=ISSUER,
                now=1_800_000_000,
                status="pending",
            )
        await engine.dispose()

    with run_server(pending_upstream) as url:
        asyncio.run(submit(url))
        result = _run("apps", "audit", "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["apps"] == []
    assert pending_upstream.hits == 0


def test_a_host_that_is_the_hubs_or_another_apps_own_is_refused(hub: KeyRing) -> None:
    _add("parkir", "http://127.0.0.1:9001")
    taken = _run(
        "apps",
        "add",
        "--slug",
        "tiruan",
        "--opd",
        "dishub",
        "--upstream",
        "http://127.0.0.1:9003",
        "--auth",
        "none",
        "--host",
        "PARKIR.localhost",
    )
    assert taken.exit_code == 1 and "inside the apps domain" in taken.stderr  # every name there is an app's own
    hub_host = _run(
        "apps",
        "add",
        "--slug",
        "hubku",
        "--opd",
        "dishub",
        "--upstream",
        "http://127.0.0.1:9003",
        "--auth",
        "none",
        "--host",
        "127.0.0.1",
    )
    assert hub_host.exit_code == 1
