"""What the benchmark measures: one entry per target, each knowing how to start itself.

Every target is started, measured and stopped before the next one starts, so each gets the
target core alone. Proxy targets all answer the same request path in front of the same upstream.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loadtests.harness import dpop_load, gerbang, nginx, node, tokens
from loadtests.harness.errors import Unavailable
from loadtests.harness.machine import Cores
from loadtests.harness.process import Service, start_service, stop_service, wait_for_http
from loadtests.harness.wrk import Request


@dataclass(slots=True)
class Bench:
    """What every target's start step shares: cores, the temp dir, the upstream, the Gerbang site."""

    cores: Cores
    work: Path
    logs: Path
    upstream_port: int
    policy_dir: Path | None
    helpers: list[Service] = field(default_factory=list)  # the upstream: ours, but not the target
    database_server: str | None = None  # PostgreSQL for Gerbang's database; None: a SQLite file
    _database_url: str | None = None
    _site: gerbang.Site | Unavailable | None = None
    _apps: Unavailable | bool = False

    def site(self) -> gerbang.Site:
        if self._site is None:
            try:
                if self.database_server is not None:
                    self._database_url = gerbang.create_database(self.database_server)
                self._site = gerbang.build_site(self.work / "gerbang", free_port(), self._database_url)
            except Unavailable as exc:
                self._site = exc
        if isinstance(self._site, Unavailable):
            raise self._site
        return self._site

    def close(self) -> None:
        """Drop the PostgreSQL database the site was made in (after every target has stopped)."""
        if self.database_server is not None and self._database_url is not None:
            gerbang.drop_database(self.database_server, self._database_url)
            self._database_url = None

    def site_with_apps(self) -> gerbang.Site:
        site = self.site()
        if self._apps is False:
            try:
                gerbang.add_apps(site, f"http://127.0.0.1:{self.upstream_port}")
                self._apps = True
            except Unavailable as exc:
                self._apps = exc
        if isinstance(self._apps, Unavailable):
            raise self._apps
        return site


@dataclass(slots=True)
class Endpoint:
    request: Request
    services: list[Service] = field(default_factory=list)
    helpers: list[Service] = field(default_factory=list)
    cold_start_s: float | None = None


Start = Callable[[Bench, ExitStack], Endpoint]


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    title: str
    kind: Literal["proxy", "token"]
    start: Start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keep(stack: ExitStack, service: Service) -> Service:
    stack.callback(stop_service, service)
    return service


def _direct(bench: Bench, stack: ExitStack) -> Endpoint:
    port = free_port()
    service = _keep(stack, nginx.start_static("direct", bench.work / "direct", port, bench.cores.on_target, bench.logs))
    return Endpoint(Request(f"http://127.0.0.1:{port}/apps/api/"), [service])


def _nginx(bench: Bench, stack: ExitStack) -> Endpoint:
    port = free_port()
    service = _keep(
        stack,
        nginx.start_proxy(
            "nginx-proxy", bench.work / "nginx-proxy", port, bench.upstream_port, bench.cores.on_target, bench.logs
        ),
    )
    return Endpoint(Request(f"http://127.0.0.1:{port}/apps/api/"), [service])


def _fastify(assertion: bool) -> Start:
    def start(bench: Bench, stack: ExitStack) -> Endpoint:
        return _start_fastify(bench, stack, assertion)

    return start


def _start_fastify(bench: Bench, stack: ExitStack, assertion: bool) -> Endpoint:
    directory = node.install_peer("fastify-gateway", bench.work / "npm")
    port = free_port()
    issuer, audience = "http://127.0.0.1/bench-issuer", f"http://127.0.0.1:{port}/apps/api/"
    minted = tokens.mint_es256_token(bench.work, issuer, audience)
    env = {
        "PORT": str(port),
        "UPSTREAM": f"http://127.0.0.1:{bench.upstream_port}",
        "PREFIX": "/apps/api",
        "ISSUER": issuer,
        "AUDIENCE": audience,
        "JWKS_FILE": str(minted.jwks_path),
        "LIMIT": "1000000000",
        "LIMIT_WINDOW_MS": "60000",
        "NODE_ENV": "production",
        "ASSERTION": "1" if assertion else "0",
    }
    service = _keep(stack, node.start_peer("fastify-gateway", directory, env, bench.cores.on_target, bench.logs))
    cold = wait_for_http(service, f"http://127.0.0.1:{port}/healthz")
    request = Request(audience, headers={"Authorization": f"Bearer {minted.token}"})
    return Endpoint(request, [service], cold_start_s=cold)


def _bare_proxy(bench: Bench, stack: ExitStack) -> Endpoint:
    port = free_port()
    argv = [sys.executable, str(PEERS / "bare-proxy" / "bare_proxy.py"), str(port)]
    env = {"UPSTREAM": f"http://127.0.0.1:{bench.upstream_port}"}
    service = _keep(stack, start_service("bare-proxy", argv, pin=bench.cores.on_target, log_dir=bench.logs, env=env))
    cold = wait_for_http(service, f"http://127.0.0.1:{port}/apps/api/")
    return Endpoint(Request(f"http://127.0.0.1:{port}/apps/api/"), [service], cold_start_s=cold)


def _oidc_provider(bench: Bench, stack: ExitStack) -> Endpoint:
    directory = node.install_peer("oidc-provider", bench.work / "npm")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    client = tokens.ClientCredentials("bench", "bench-secret-" + "x" * 32, f"http://127.0.0.1:{port}/apps/api/")
    env = {
        "PORT": str(port),
        "ISSUER": issuer,
        "CLIENT_ID": client.client_id,
        "CLIENT_SECRET": client.client_secret,
        "RESOURCE": client.resource,
        "NODE_ENV": "production",
    }
    service = _keep(stack, node.start_peer("oidc-provider", directory, env, bench.cores.on_target, bench.logs))
    cold = wait_for_http(service, f"{issuer}/.well-known/openid-configuration")
    request = tokens.build_token_request(tokens.load_token_endpoint(issuer), client)
    return Endpoint(request, [service], cold_start_s=cold)


def _gerbang(workers: int, app: Literal["api", "open", "api-signed", "api-ledger"], *, full: bool = False) -> Start:
    def start(bench: Bench, stack: ExitStack) -> Endpoint:
        site = bench.site_with_apps()
        extra, helpers = _full_pipeline(bench, stack) if full else ({"GERBANG_POLICY_DIR": str(OPEN_POLICIES)}, [])
        pin = bench.cores.on_target if workers == 1 else bench.cores.on_every
        service = _keep(stack, gerbang.start_gerbang(f"gerbang-{workers}w", site, workers, extra, pin, bench.logs))
        cold = wait_for_http(service, f"{site.issuer}/healthz", timeout=30)
        headers = {"Host": f"{app}.localhost:{site.port}"}  # each app on its own origin; the hub routes by Host
        if app.startswith("api"):
            token_request = tokens.build_token_request(tokens.load_token_endpoint(site.issuer), site.client)
            headers["Authorization"] = f"Bearer {tokens.fetch_access_token(token_request)}"
        return Endpoint(Request(f"{site.issuer}/", headers=headers), [service], helpers, cold)

    return start


def _gerbang_token(bench: Bench, stack: ExitStack) -> Endpoint:
    site = bench.site()
    env = {"GERBANG_POLICY_DIR": str(OPEN_POLICIES)}  # the shipped token-per-IP limit would refuse the load
    service = _keep(stack, gerbang.start_gerbang("gerbang-token", site, 1, env, bench.cores.on_target, bench.logs))
    cold = wait_for_http(service, f"{site.issuer}/healthz", timeout=30)
    request = tokens.build_token_request(tokens.load_token_endpoint(site.issuer), site.client)
    return Endpoint(request, [service], cold_start_s=cold)


def _full_pipeline(bench: Bench, stack: ExitStack) -> tuple[dict[str, str], list[Service]]:
    """Policies from ``--policy-dir`` and limits in a Redis of the benchmark's own (never the shared one)."""
    if bench.policy_dir is None:
        raise Unavailable("no policy set: pass --policy-dir DIR (or ship loadtests/policies/)")
    gerbang.run_cli(bench.site().env, "policy", "check", str(bench.policy_dir), cwd=bench.site().root)
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = _keep(stack, start_service("redis", argv, pin=bench.cores.on_load, log_dir=bench.logs))
    _wait_for_tcp(redis, port)
    env = {"GERBANG_POLICY_DIR": str(bench.policy_dir), "GERBANG_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    return env, [redis]


def _wait_for_tcp(service: Service, port: int) -> None:
    for _attempt in range(500):
        if service.popen.poll() is not None:
            raise Unavailable(f"{service.name} exited: {service.log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise Unavailable(f"{service.name} did not listen on {port}")


# Plain targets measure the proxy path alone: no restricted app, no limits (the shipped set limits per IP).
PEERS = Path(__file__).resolve().parent.parent / "peers"
OPEN_POLICIES = Path(__file__).resolve().parent.parent / "policies" / "open"

TARGETS: tuple[Target, ...] = (
    Target("direct", "upstream direct (no proxy)", "proxy", _direct),
    Target("nginx", "nginx proxy_pass, keepalive, 1 worker", "proxy", _nginx),
    Target(
        "bare-proxy",
        "old floor: raw ASGI + aiohttp under uvicorn, query and body forwarded, no gateway work",
        "proxy",
        _bare_proxy,
    ),
    Target("fastify", "fastify + http-proxy + jose (cached) + limit", "proxy", _fastify(assertion=False)),
    Target(
        "fastify-assert", "fastify as above + a signed ES256 assertion per request", "proxy", _fastify(assertion=True)
    ),
    Target("gerbang-none", "Gerbang auth=none, 1 worker", "proxy", _gerbang(1, "open")),
    Target("gerbang-bearer", "Gerbang bearer, 1 worker", "proxy", _gerbang(1, "api")),
    Target(
        "gerbang-signed",
        "Gerbang bearer + RFC 9421 signed requests (integrity signed), 1 worker",
        "proxy",
        _gerbang(1, "api-signed"),
    ),
    Target(
        "gerbang-ledger",
        "Gerbang bearer + signed requests + a durable receipt each (integrity ledger), 1 worker",
        "proxy",
        _gerbang(1, "api-ledger"),
    ),
    Target(
        "gerbang-dpop",
        "Gerbang bearer, DPoP-bound token + a fresh proof per request, 1 worker",
        "proxy",
        dpop_load.with_dpop(_gerbang(1, "api")),
    ),
    Target("gerbang-full", "Gerbang bearer + policies + Redis limit, 1 worker", "proxy", _gerbang(1, "api", full=True)),
    Target("gerbang-2w", "Gerbang bearer, 2 workers (both cores)", "proxy", _gerbang(2, "api")),
    Target("token-oidc-provider", "token endpoint: node oidc-provider (ES256 JWT)", "token", _oidc_provider),
    Target("token-gerbang", "token endpoint: Gerbang (ES256 JWT)", "token", _gerbang_token),
)
