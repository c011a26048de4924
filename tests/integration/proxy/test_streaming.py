"""Bodies stream both ways with flat memory; long streams stop when the client leaves; slow clients get 408."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from tests.integration.proxy.conftest import Hub
from tests.support.eventually import eventually_async
from tests.support.rawhttp import connect, is_closed, read_response

MIB = 1 << 20
TRANSFER = 256 * MIB
ALLOWED_GROWTH = 64 * MIB  # a buffered body would add the whole 256 MiB


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Samples this process's RSS (client, gateway and upstream all live here) while the block runs."""
    samples = [rss()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            samples.append(rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


async def generated(total: int, chunk: int = MIB) -> AsyncIterator[bytes]:
    block = b"u" * chunk
    sent = 0
    while sent < total:
        yield block
        sent += chunk


async def test_large_upload_streams_with_flat_memory(hub_factory: Any) -> None:
    hub: Hub = hub_factory()
    with peak_rss() as samples:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{hub.app_url('echo')}/upload", data=generated(TRANSFER), headers={"Content-Length": str(TRANSFER)}
            ) as response:
                document = await response.json()
    assert response.status == 200
    assert document["received"] == TRANSFER
    assert max(samples) - samples[0] < ALLOWED_GROWTH


async def test_large_download_streams_with_flat_memory(hub_factory: Any) -> None:
    hub: Hub = hub_factory()
    received = 0
    with peak_rss() as samples:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{hub.app_url('echo')}/stream?chunks={TRANSFER // 65536}&size=65536") as response:
                async for chunk in response.content.iter_chunked(MIB):
                    received += len(chunk)
    assert received == TRANSFER
    assert max(samples) - samples[0] < ALLOWED_GROWTH


async def test_endless_stream_passes_and_stops_when_the_client_leaves(hub_factory: Any) -> None:
    hub: Hub = hub_factory()
    upstream = hub.upstreams[0]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{hub.app_url('echo')}/stream?chunks=0&size=1000&delay=0.01") as response:
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            got = 0
            while got < 20_000:
                got += len(await response.content.readany())
    await eventually_async(lambda: upstream.disconnects != 0, timeout=5)
    assert upstream.disconnects == 1  # the gateway let go of the upstream when the client left
    sent = upstream.stream_chunks_sent
    await asyncio.sleep(0.2)
    assert upstream.stream_chunks_sent == sent


def test_slow_body_is_408_and_connection_closed(hub_factory: Any) -> None:
    hub: Hub = hub_factory(request_read_timeout=0.5)
    with connect(hub.url) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 100\r\n\r\n0123456789")
        response = read_response(sock)
        assert response.status == 408
        assert response.header("content-type") == "application/problem+json"
        assert is_closed(sock)


def test_pipelined_requests_are_answered_in_order(hub_factory: Any) -> None:
    hub: Hub = hub_factory()
    with connect(hub.url) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /second HTTP/1.1\r\nHost: echo.localhost\r\n\r\n"
        )
        first = read_response(sock)
        assert (first.status, first.body) == (200, b'{"received": 5}')
        second = read_response(sock)
    assert second.status == 200
