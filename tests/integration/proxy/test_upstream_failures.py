"""Upstream failures: 502 unreachable, 504 too slow, 503 while every circuit is open, retries only when safe."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.proxy.conftest import Hub, build_route

DEAD = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused


class SlamServer:
    """Accepts connections and closes them at once, counting them (a crashed app behind a live port)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def slam() -> Iterator[SlamServer]:
    server = SlamServer()
    yield server
    server.stop()


async def call(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:
            body = await response.read()
            return response.status, json.loads(body) if body else {}


async def test_unreachable_upstream_is_502(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (DEAD,))])
    status, problem = await call(f"{hub.app_url('echo')}/x")
    assert status == 502
    assert problem["type"] == "urn:gerbang:problem:bad-gateway"
    assert "127.0.0.1" not in problem["detail"]  # no internals


async def test_slow_upstream_read_is_504(hub_factory: Any) -> None:
    hub: Hub = hub_factory(upstream_read_timeout=0.3)
    status, problem = await call(f"{hub.app_url('echo')}/slow?delay=1")
    assert status == 504
    assert problem["title"] == "Gateway Timeout"


async def test_total_timeout_to_response_head_is_504(hub_factory: Any) -> None:
    hub: Hub = hub_factory(upstream_total_timeout=0.3, upstream_read_timeout=30)
    status, _ = await call(f"{hub.app_url('echo')}/slow?delay=1")
    assert status == 504


async def test_breaker_opens_and_answers_503_without_touching_upstream(hub_factory: Any, slam: SlamServer) -> None:
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (slam.url,))],
        breaker_failure_threshold=3,
        breaker_reset_seconds=60,
        upstream_retries=0,
    )
    statuses = [(await call(f"{hub.app_url('echo')}/x"))[0] for _ in range(3)]
    assert statuses == [502, 502, 502]
    touched = slam.accepted
    for _ in range(5):
        status, problem = await call(f"{hub.app_url('echo')}/x")
        assert status == 503
        assert problem["detail"] == "the app's service is unavailable"
    async with aiohttp.ClientSession() as session, session.get(f"{hub.app_url('echo')}/x") as response:
        assert response.status == 503
        assert 55 <= int(response.headers["Retry-After"]) <= 60  # when the breaker lets a trial through
    assert slam.accepted == touched


async def test_breaker_half_opens_and_closes_after_recovery(hub_factory: Any) -> None:
    import asyncio

    hub: Hub = hub_factory(breaker_failure_threshold=1, breaker_reset_seconds=0.3, upstream_retries=0)
    pool = hub.app.pipeline.proxy.upstreams
    assert (await call(f"{hub.app_url('echo')}/x"))[0] == 200
    target = pool.pools["echo"].targets[0]
    target.breaker.record_failure()  # as if the last request had failed
    assert (await call(f"{hub.app_url('echo')}/x"))[0] == 503
    await asyncio.sleep(0.35)
    assert (await call(f"{hub.app_url('echo')}/x"))[0] == 200  # the half-open trial succeeds
    assert target.breaker.state == "closed"


async def test_idempotent_request_retries_on_another_target(hub_factory: Any) -> None:
    hub: Hub = hub_factory(lambda urls: [build_route("echo", (DEAD, urls[0]))], upstream_cooloff_seconds=0)
    for _ in range(4):
        status, document = await call(f"{hub.app_url('echo')}/echo")
        assert status == 200
        assert document["upstream"] == "upstream-0"


async def test_request_with_body_is_never_retried(hub_factory: Any) -> None:
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (DEAD, urls[0]))], upstream_cooloff_seconds=0, breaker_failure_threshold=100
    )
    statuses = [(await call(f"{hub.app_url('echo')}/echo", "POST", data=b"pay once"))[0] for _ in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502]  # round robin: every other POST hits the dead target
    assert hub.upstreams[0].hits == 2


async def test_non_idempotent_without_body_is_not_retried(hub_factory: Any) -> None:
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (DEAD, urls[0]))], upstream_cooloff_seconds=0, breaker_failure_threshold=100
    )
    statuses = [(await call(f"{hub.app_url('echo')}/echo", "DELETE"))[0] for _ in range(2)]
    assert sorted(statuses) == [200, 502]


async def test_slow_upload_outlasting_upstream_timeouts_passes(hub_factory: Any) -> None:
    import asyncio

    hub: Hub = hub_factory(upstream_read_timeout=0.3, upstream_total_timeout=0.3, request_read_timeout=2)

    async def slowly() -> Any:
        for _ in range(6):  # 1.2 s of upload, each piece well within the body deadline
            yield b"x" * 1000
            await asyncio.sleep(0.2)

    status, document = await call(f"{hub.app_url('echo')}/upload", "POST", data=slowly())
    assert status == 200
    assert document == {"received": 6000}


async def test_total_timeout_after_the_upload_is_504(hub_factory: Any) -> None:
    hub: Hub = hub_factory(upstream_total_timeout=0.3, upstream_read_timeout=30)
    status, _ = await call(f"{hub.app_url('echo')}/slow?delay=1", "POST", data=b"body")
    assert status == 504


def test_upstream_that_stops_reading_the_body_is_504(hub_factory: Any) -> None:
    """An upstream that accepts the connection but never reads: the upload stalls, the deadline fires."""
    from tests.support.rawhttp import connect, read_response

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled = f"http://127.0.0.1:{listener.getsockname()[1]}"
    hub: Hub = hub_factory(
        lambda urls: [build_route("echo", (stalled,))], upstream_total_timeout=0.5, request_read_timeout=30
    )
    try:
        with connect(hub.url) as sock:
            size = 64 << 20
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: %d\r\n\r\n" % size)
            sock.settimeout(0.05)
            sent = 0
            while sent < size:  # keep offering the body until the gateway answers
                try:
                    sock.sendall(b"x" * 65536)
                    sent += 65536
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    break
            sock.settimeout(10)
            response = read_response(sock)
        assert response.status == 504
    finally:
        listener.close()
