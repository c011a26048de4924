"""The integrity observer's own cost per request, in one process: ``signed`` against ``ledger`` (not a test).

    python -m loadtests.integrity_flow [--requests 6400] [--rounds 3]

Drives ``IntegrityPlane.begin`` → ``attach`` → ``request_head`` (the RFC 9421 signature) → response head and body →
the held answer's release (a ledger app: its receipt linked, in a Merkle tree under a signed checkpoint, written
to a SQLite file by the writer's thread, its ``Gerbang-Receipt`` encoded) for 64 exchanges at a time, with a
client front that only counts what it is sent: no sockets, no HTTP, so the number is the observer's and the
writer's alone. CPU is the whole process's (the writer's thread included), wall time shows what waiting adds.
Under wrk the same work costs more (caches shared with the HTTP path), and the machine's noise is far larger:
this is for comparing two builds of the integrity code, alternated (``GERBANG_BENCH_CLI`` plays no part here:
run it from each checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import types
from pathlib import Path

from gateway.integrity.ledger_writer import LedgerWriter
from gateway.integrity.observer import IntegrityPlane
from gateway.integrity.signer import RequestSigner
from gateway.model import Principal, RequestHead, Route
from idp.clock import SystemClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.migrate import upgrade

ISSUER = "https://sso.palembang.go.id"
HOST = "e-budgeting.apps.palembang.go.id"
CONCURRENCY = 64
RESPONSE = [(b"content-type", b"application/json"), (b"content-length", b"13")]


class CountingFront:
    """The client's side: takes the response and counts it (``gateway.exchange.Conversation``)."""

    def __init__(self) -> None:
        self.sent = 0

    async def read_body(self) -> tuple[bytes, bool]:
        return b"", False

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]], flush: bool = True) -> None:
        self.sent += 1

    async def send_body(self, data: bytes, more: bool) -> None:
        self.sent += 1

    def watch(self, on_gone: object) -> None:
        pass

    def gone(self) -> bool:
        return False

    def abort(self) -> None:
        pass

    async def send_problem(self, *args: object, **kwargs: object) -> None:
        pass


async def measure(url: str, mode: str, requests: int) -> tuple[float, float]:
    engine = build_engine(url)
    sessionmaker, clock = build_sessionmaker(engine), SystemClock()
    ring = KeyRing(sessionmaker, b"s" * 40, "ES256", clock)
    await ring.load()
    writer = LedgerWriter(sessionmaker, ring.sign, clock, issuer=ISSUER)
    await writer.start()
    plane = IntegrityPlane(
        RequestSigner(lambda: ring.message_key, clock, 30), writer, buffer_bytes=1 << 20, read_timeout=10
    )
    route = Route("e-budgeting", "bpkad", "/kota-palembang/bpkad/", ("http://127.0.0.1:9",), "bearer",
                  f"https://{HOST}", integrity=mode)  # fmt: skip
    principal = Principal(sub="3571000000000001", client_id="bapenda-pajak")

    async def exchange(number: int) -> None:
        head = RequestHead("GET", "/api/anggaran/2027", b"", ((b"host", HOST.encode()),), "10.0.0.1", "https", HOST,
                           f"req-{number:020d}")  # fmt: skip
        observer = plane.begin(route, principal, head, None, False, "a.b.c")
        assert observer is not None
        front = await observer.attach(CountingFront())
        headers = [("x-forwarded-proto", "https"), ("x-forwarded-host", HOST), ("x-request-id", head.request_id)]
        observer.request_head(types.SimpleNamespace(head=head, upstream_path=head.path), headers)  # type: ignore[arg-type]
        observer.response_head(200, RESPONSE)
        observer.response_chunk(b'{"pagu": 125}')
        await front.start_response(200, list(RESPONSE), True)
        await front.send_body(b'{"pagu": 125}', False)
        observer.finished(None)
        observer.done()

    async def caller(first: int) -> None:
        for number in range(first, first + requests // CONCURRENCY):
            await exchange(number)

    await asyncio.gather(*(caller(n * requests) for n in range(CONCURRENCY)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller((CONCURRENCY + n) * requests) for n in range(CONCURRENCY)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await writer.stop()
    await engine.dispose()
    return cpu / requests * 1e6, wall / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.integrity_flow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'gerbang.db'}"
        upgrade(url, issuer=ISSUER)
        results: dict[str, list[tuple[float, float]]] = {"signed": [], "ledger": []}
        for _ in range(args.rounds):
            for mode in results:
                results[mode].append(asyncio.run(measure(url, mode, args.requests)))
    for mode, rounds in results.items():
        cpu = statistics.median(r[0] for r in rounds)
        wall = statistics.median(r[1] for r in rounds)
        print(f"{mode:7s} CPU {cpu:6.1f} µs/request  wall {wall:6.1f} µs/request  (medians of {args.rounds})")
    extra = statistics.median(r[0] for r in results["ledger"]) - statistics.median(r[0] for r in results["signed"])
    print(f"ledger - signed: {extra:.1f} µs of CPU per request")


if __name__ == "__main__":
    main()
