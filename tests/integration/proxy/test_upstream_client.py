"""The app plane's upstream client against real loopback servers: pool cap, stale keep-alive, TLS, head cap."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.proxy.conftest import Hub, build_route
from tests.support.server import run_server

Handler = Callable[[socket.socket, int], None]


class RawServer:
    """A threaded loopback server; ``handler(connection, index)`` runs per accepted connection."""

    def __init__(self, handler: Handler, context: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handler, self.context = handler, context
        self.accepted = 0
        self.alpn: list[str | None] = []
        self.server_names: list[str | None] = []
        if context is not None:
            context.sni_callback = lambda sock, name, _ctx: self.server_names.append(name)  # type: ignore[assignment]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            index = self.accepted
            self.accepted += 1
            threading.Thread(target=self._serve, args=(connection, index), daemon=True).start()

    def _serve(self, connection: socket.socket, index: int) -> None:
        try:
            if self.context is not None:
                connection = self.context.wrap_socket(connection, server_side=True)
                self.alpn.append(connection.selected_alpn_protocol())
            self.handler(connection, index)
        except (OSError, ssl.SSLError):
            pass
        finally:
            connection.close()

    def close(self) -> None:
        self.listener.close()


def read_head(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def raw_servers() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for server in servers:
        server.close()


def test_a_stale_pooled_connection_is_retried_once_for_an_idempotent_request(
    hub_factory: Any, raw_servers: list[RawServer]
) -> None:
    """The upstream keeps each connection for one answer and drops it silently on the next request."""

    def one_answer_per_connection(connection: socket.socket, _index: int) -> None:
        if read_head(connection):
            connection.sendall(OK)
        read_head(connection)  # the next request on this connection: closed unanswered

    server = RawServer(one_answer_per_connection)
    raw_servers.append(server)
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (f"http://127.0.0.1:{server.port}",))])
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(hub.app_url("echo") + "/x").text == "ok"
        assert server.accepted == 3  # every reuse failed, and was retried on a fresh connection
        response = client.post(hub.app_url("echo") + "/x", content=b"pay once")  # a body: never retried
    assert response.status_code == 502
    assert server.accepted == 3


def test_connections_per_upstream_are_capped(hub_factory: Any) -> None:
    in_flight = {"now": 0, "peak": 0}

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        await asyncio.sleep(0.05)
        in_flight["now"] -= 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with run_server(slow_app) as url:
        hub: Hub = hub_factory(
            lambda urls: [build_route("echo", (url,))], upstream_connections_per_host=2, upstream_connect_timeout=30
        )

        async def burst() -> list[int]:
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
                responses = await asyncio.gather(*(client.get(hub.app_url("echo") + f"/{i}") for i in range(12)))
            return [response.status_code for response in responses]

        assert asyncio.run(burst()) == [200] * 12
    assert in_flight["peak"] <= 2
    pool = next(iter(hub.app.pipeline.proxy.client.pools.values()))  # type: ignore[union-attr]
    assert pool.open <= 2 and not pool.waiters


def test_an_oversized_upstream_response_head_is_a_502(hub_factory: Any, raw_servers: list[RawServer]) -> None:
    def huge_head(connection: socket.socket, _index: int) -> None:
        read_head(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 4096 + b"\r\nContent-Length: 2\r\n\r\nok")

    server = RawServer(huge_head)
    raw_servers.append(server)
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (f"http://127.0.0.1:{server.port}",))], upstream_max_header_bytes=1024
    )
    response = httpx.get(hub.app_url("echo") + "/x")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def city_ca(tmp_path: Path) -> tuple[Any, Path]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    bundle = tmp_path / "city-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, bundle


def _tls_server(ca: Any, raw_servers: list[RawServer]) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])

    def answer(connection: socket.socket, _index: int) -> None:
        while read_head(connection):
            connection.sendall(OK)

    server = RawServer(answer, context)
    raw_servers.append(server)
    return server


def test_https_upstream_is_verified_and_spoken_to_in_http_1_1(
    hub_factory: Any, city_ca: tuple[Any, Path], raw_servers: list[RawServer]
) -> None:
    ca, bundle = city_ca
    server = _tls_server(ca, raw_servers)
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (f"https://localhost:{server.port}",))], upstream_ca_file=str(bundle)
    )
    with httpx.Client() as client:
        assert [client.get(hub.app_url("echo") + "/x").text for _ in range(3)] == ["ok"] * 3
    assert server.accepted == 1  # kept alive over TLS
    assert server.alpn == ["http/1.1"]  # offered h2 too: the gateway asked for HTTP/1.1 only
    assert server.server_names == ["localhost"]


@pytest.mark.parametrize(
    "upstream", ["https://127.0.0.1:{port}", "https://localhost:{port}"], ids=["name-not-in-certificate", "unknown-ca"]
)
def test_https_upstream_that_fails_verification_is_never_spoken_to(
    hub_factory: Any, city_ca: tuple[Any, Path], raw_servers: list[RawServer], upstream: str
) -> None:
    ca, bundle = city_ca
    server = _tls_server(ca, raw_servers)
    trusted = {"upstream_ca_file": str(bundle)} if upstream.startswith("https://127.") else {}
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (upstream.format(port=server.port),))], **trusted)
    response = httpx.get(hub.app_url("echo") + "/x")
    assert response.status_code == 502
    assert response.json()["type"] == "urn:gerbang:problem:bad-gateway"
