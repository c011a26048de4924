"""/healthz, /readyz, /metrics, host routing, trusted proxies, and the provider behind the same origin."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.proxy.conftest import Hub, build_route
from tests.support.rawhttp import send_raw


def test_healthz(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok"}


def test_readyz_ready(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 200
    assert json.loads(response.body) == {
        "status": "ready",
        "checks": {"database": "ok", "policies": "ok", "ratelimit": "ok"},
    }


def test_readyz_unavailable_when_database_unreachable(hub_factory: Any) -> None:
    hub: Hub = hub_factory()
    engine = hub.app.context.engine
    hub.app.context.engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        response = send_raw(hub.url, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    finally:
        hub.app.context.engine = engine
    assert response.status == 503
    document = json.loads(response.body)
    assert document["status"] == "unavailable" and document["checks"]["database"] == "unreachable"


def test_readyz_reports_degraded_subsystems(hub_factory: Any) -> None:
    hub: Hub = hub_factory()

    async def redis_degraded() -> str | None:
        return "rate limits fall back to this instance"

    async def broken() -> str | None:
        raise ConnectionError("boom")

    hub.app.operations.add_check("redis", redis_degraded, critical=False)
    response = send_raw(hub.url, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 200
    assert json.loads(response.body)["status"] == "degraded"
    hub.app.operations.add_check("registry", broken)
    response = send_raw(hub.url, b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 503
    assert json.loads(response.body)["checks"] == {
        "database": "ok",
        "policies": "ok",
        "ratelimit": "ok",
        "redis": "rate limits fall back to this instance",
        "registry": "unreachable",
    }


def test_metrics_count_requests_by_app_and_status(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (urls[0],)), build_route("down", ("http://127.0.0.1:1",))])
    for host, path in ((b"echo", b"/a"), (b"echo", b"/b"), (b"down", b"/x"), (b"nope", b"/")):
        send_raw(hub.url, b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b".localhost\r\n\r\n")
    text = send_raw(hub.url, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").body.decode()
    assert 'gerbang_gateway_requests_total{app="echo",status="200"} 2.0' in text
    assert 'gerbang_gateway_requests_total{app="down",status="502"} 1.0' in text
    assert 'gerbang_gateway_requests_total{app="-",status="404"} 1.0' in text
    assert 'gerbang_gateway_upstream_errors_total{app="down",kind="connect"} 1.0' in text
    assert 'gerbang_gateway_circuit_state{app="down",target="http://127.0.0.1:1"} 0.0' in text
    assert 'gerbang_gateway_request_seconds_count{app="echo"} 2.0' in text


def test_host_routed_app_gets_every_path(hub_factory: Any) -> None:
    hub: Hub = hub_factory(
        lambda urls: [build_route("parkir", (urls[0],), hosts=("parkir.localhost", "parkir.palembang.go.id"))]
    )
    response = send_raw(hub.url, b"GET /tiket/1?x=1 HTTP/1.1\r\nHost: Parkir.Palembang.go.id:443\r\n\r\n")
    assert response.status == 200
    assert json.loads(response.body)["raw_path"] == "/tiket/1"
    other = send_raw(
        hub.url, b"GET /tiket/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: parkir.palembang.go.id\r\n\r\n"
    )
    assert other.status == 404  # X-Forwarded-Host never routes
    assert other.header("content-type") != "application/json"


def test_trusted_proxy_chain_gives_the_client_address(hub_factory: Any) -> None:
    hub: Hub = hub_factory(trusted_proxies=("127.0.0.0/8",))
    response = send_raw(
        hub.url,
        b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n"
        b"X-Forwarded-For: 198.51.100.7, 127.0.0.9\r\nX-Forwarded-Proto: https\r\n"
        b"X-Forwarded-Host: kota.palembang.go.id\r\n\r\n",
    )
    headers = dict((k, v) for k, v in json.loads(response.body)["headers"])
    assert headers["x-forwarded-for"] == "198.51.100.7, 127.0.0.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == "echo.localhost:8000"  # the registered host, even from a trusted proxy


def test_metrics_hidden_from_public_clients(hub_factory: Any) -> None:
    hub: Hub = hub_factory(metrics_networks=("10.0.0.0/8",))
    response = send_raw(hub.url, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
    assert response.status == 404  # loopback is not in the list, and an untrusted peer's XFF is not believed
    assert response.header("content-type") == "application/problem+json"


def test_app_claiming_the_hub_host_cannot_take_over_the_provider(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("evil", (urls[0],), hosts=("evil.localhost", "127.0.0.1"))])
    response = send_raw(hub.url, b"GET /auth/jwks HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n")
    assert response.status == 200
    assert "keys" in json.loads(response.body)
    assert hub.upstreams[0].hits == 0
