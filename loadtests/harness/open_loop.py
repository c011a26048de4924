"""An open-loop load generator: requests sent at a fixed rate, latency counted from when each was due.

wrk is closed-loop: each connection sends its next request only when the last answered, so a slow
server is offered less load and its stalls hide (coordinated omission). Here request *i* is due at
``start + i / rate`` whatever happened before; it goes out on an idle keep-alive connection, or waits
for one (the wait is part of its latency), so a stall shows in the percentiles as users would see it.

    python -m loadtests.harness.open_loop --url http://127.0.0.1:8080/ --rate 1000 --seconds 10 \
        --header 'Host: api.localhost' --header 'Authorization: Bearer …'

Prints one JSON object: offered and completed rates, latency percentiles (ms), errors by kind. Runs on
uvloop and httptools (one process, pinned to the load core by the caller); at 1,000 requests/s it
spends ~40 µs of its own CPU per request, far below the rate it drives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop


@dataclass(slots=True)
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    late_sends: int = 0  # requests that waited for a free connection before going out


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, on_answer: _Answered) -> None:
        self.on_answer = on_answer
        self.transport: asyncio.WriteTransport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.due = 0.0
        self.busy = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's transports subclass no asyncio class

    def send(self, request: bytes, due: float) -> None:
        assert self.transport is not None
        self.busy, self.due = True, due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("parse")

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.busy = False
        self.on_answer(self, status, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.busy:
            self._fail("closed")
        self.on_answer.replace(self)

    def _fail(self, kind: str) -> None:
        self.busy = False
        self.on_answer(self, 0, kind)


class _Answered:
    def __init__(self, tally: Tally, idle: deque[_Connection], waiting: deque[float], send: _Sender) -> None:
        self.tally, self.idle, self.waiting, self.send = tally, idle, waiting, send
        self.open: Callable[[], Awaitable[_Connection]] | None = None
        self.opened: list[_Connection] = []

    def replace(self, lost: _Connection) -> None:
        """A connection the server closed is replaced by a new one (its opening time counts for who waits)."""
        if lost in self.idle:
            self.idle.remove(lost)
        if self.open is not None:
            asyncio.get_running_loop().create_task(self._reopen())

    async def _reopen(self) -> None:
        assert self.open is not None
        try:
            connection = await self.open()
        except OSError:
            self.tally.errors["connect"] += 1
            return
        self.opened.append(connection)
        self(connection, 0, "fresh")

    def __call__(self, connection: _Connection, status: int, error: str | None) -> None:
        now = time.perf_counter()
        if error == "fresh":
            error = None
        elif error is not None:
            self.tally.errors[error] += 1
        elif status == 0:
            pass  # a new connection joining the pool
        elif not 200 <= status < 300:
            self.tally.errors[f"status {status}"] += 1
        else:
            self.tally.latencies_ms.append((now - connection.due) * 1000)
        if connection.lost or error is not None:
            return  # this connection is done (connection_lost replaces it)
        if self.waiting:
            self.send(connection, self.waiting.popleft())
        else:
            self.idle.append(connection)


class _Sender:
    def __init__(self, request: bytes, tally: Tally) -> None:
        self.request, self.tally = request, tally

    def __call__(self, connection: _Connection, due: float) -> None:
        if time.perf_counter() - due > 0.001:
            self.tally.late_sends += 1
        connection.send(self.request, due)


def build_request(url: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1"]
    names = {header.split(":", 1)[0].strip().lower() for header in headers}
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    lines += headers
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def drive(url: str, headers: list[str], rate: float, seconds: float, connections: int) -> dict[str, object]:
    host, port, request = build_request(url, headers)
    loop = asyncio.get_running_loop()
    tally = Tally()
    idle: deque[_Connection] = deque()
    waiting: deque[float] = deque()
    send = _Sender(request, tally)
    answered = _Answered(tally, idle, waiting, send)

    async def open_one() -> _Connection:
        _, connection = await loop.create_connection(lambda: _Connection(answered), host, port)
        return connection

    answered.open = open_one
    opened = answered.opened
    for _ in range(connections):
        opened.append(await open_one())
    idle.extend(opened)
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        if idle:
            send(idle.popleft(), due)
        else:
            waiting.append(due)
    for _ in range(1000):  # the last answers: at most 10 s more
        if not waiting and not any(connection.busy for connection in opened):
            break
        await asyncio.sleep(0.01)
    tally.errors["unanswered"] += len(waiting) + sum(1 for c in opened if c.busy)
    for connection in opened:
        if connection.transport is not None:
            connection.transport.close()
    return summarise(tally, rate, seconds, total)


def summarise(tally: Tally, rate: float, seconds: float, total: int) -> dict[str, object]:
    ordered = sorted(tally.latencies_ms)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "sent": total,
        "completed": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "p999_ms": percentile(ordered, 99.9),
        "max_ms": round(ordered[-1], 3) if ordered else None,
        "late_sends": tally.late_sends,
        "errors": {kind: count for kind, count in tally.errors.items() if count},
    }


def percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    rank = max(0, math.ceil(share / 100 * len(ordered)) - 1)
    return round(ordered[rank], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.harness.open_loop", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second offered (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    args = parser.parse_args(argv)
    result = uvloop.run(drive(args.url, args.header, args.rate, args.seconds, args.connections))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
