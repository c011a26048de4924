"""A tiny TCP load balancer for tests, like any L4 balancer in front of the city's instances.

Round robin over the backends; a backend that refuses the connection, or closes it before answering a
single byte, is skipped and the request replayed on the next one (HAProxy's ``retry-on conn-failure
empty-response`` with ``option redispatch``). It reads the client's first request (head and a
Content-Length body) before choosing a backend, so it can replay it, and then pipes both ways. Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = list(backends)
        self._turn = itertools.count()
        self.retries = 0
        self.failed = 0

    def _order(self) -> list[tuple[str, int]]:
        backends = list(self.backends)
        start = next(self._turn) % len(backends)
        return backends[start:] + backends[:start]

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            head = await client_reader.readuntil(HEAD_END)
            head += await client_reader.readexactly(_content_length(head))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            client_writer.close()
            return
        try:
            for attempt in range(20):  # a few rounds: a rolling restart may refuse everywhere for a moment
                for host, port in self._order():
                    if await self._try(host, port, head, client_reader, client_writer):
                        return
                    self.retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
            self.failed += 1
        finally:
            client_writer.close()

    async def _try(
        self,
        host: str,
        port: int,
        head: bytes,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> bool:
        """True once the backend answered (the answer is then piped to the end); False: try another."""
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        try:
            writer.write(head)
            await writer.drain()
            first = await reader.read(65536)
        except OSError:
            first = b""
        if not first:  # closed without a byte of answer: the request was never taken
            writer.close()
            return False
        client_writer.write(first)
        upstream = asyncio.ensure_future(_pipe(client_reader, writer))
        with contextlib.suppress(OSError):
            await _pipe(reader, client_writer)
        upstream.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await upstream
        writer.close()
        return True


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


@contextmanager
def run_balancer(balancer: Balancer, port: int) -> Iterator[str]:
    """Serve ``balancer`` on 127.0.0.1:``port`` in a thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server: list[asyncio.Server] = []

    async def start() -> None:
        server.append(await asyncio.start_server(balancer.handle, "127.0.0.1", port, limit=MAX_HEAD, backlog=1024))
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:

        async def stop() -> None:
            server[0].close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
