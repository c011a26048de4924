"""The open-loop load generator (``loadtests.harness.open_loop``) against a tiny real server on loopback.

What makes it open-loop is that a server's stall is charged to every request that fell due during it, not
only to the one in flight (wrk's closed loop hides them: coordinated omission).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from loadtests.harness.open_loop import build_request, drive, percentile
from loadtests.latency import main as latency_main


class _Upstream(asyncio.Protocol):
    """Answers every request with 200 (or 503 for /fail); /stall requests make the whole server sleep once."""

    stalled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            target = head.split(b" ", 2)[1]
            if target == b"/stall" and not _Upstream.stalled:
                _Upstream.stalled = True
                time.sleep(0.3)  # the event loop itself stops: every connection waits
            status = b"503 Service Unavailable" if target == b"/fail" else b"200 OK"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\n\r\nok")  # type: ignore[attr-defined]


async def _run(path: str, rate: float, seconds: float, connections: int = 4) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await drive(f"http://127.0.0.1:{port}{path}", ["X-Test: 1"], rate, seconds, connections)
    finally:
        server.close()


def test_every_request_is_sent_and_answered_at_the_offered_rate() -> None:
    result = asyncio.run(_run("/", 200, 1.0))
    assert result["sent"] == 200
    assert result["completed"] == 200
    assert result["errors"] == {}
    assert isinstance(result["p99_ms"], float) and result["p99_ms"] < 250


def test_a_stall_is_charged_to_every_request_that_fell_due_during_it() -> None:
    _Upstream.stalled = False
    result = asyncio.run(_run("/stall", 200, 1.0))
    # 0.3 s at 200/s: ~60 requests were due while the server slept. A closed loop would report one slow request
    # (p99 small); counted from when each was due, well over 1 % of them waited 100 ms or more.
    assert result["completed"] == 200
    assert isinstance(result["p99_ms"], float) and result["p99_ms"] >= 100
    assert isinstance(result["p90_ms"], float) and result["p90_ms"] >= 20


def test_answers_other_than_2xx_are_errors_not_latencies() -> None:
    result = asyncio.run(_run("/fail", 100, 0.5))
    assert result["completed"] == 0
    assert result["errors"] == {"status 503": 50}
    assert result["p50_ms"] is None


def test_the_request_names_its_target_and_keeps_a_given_host() -> None:
    host, port, request = build_request("http://127.0.0.1:8080/a/b?x=1", ["Host: api.localhost", "A: b"])
    assert (host, port) == ("127.0.0.1", 8080)
    assert request == b"GET /a/b?x=1 HTTP/1.1\r\nHost: api.localhost\r\nA: b\r\n\r\n"
    assert build_request("http://127.0.0.1:9/", [])[2] == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 99) == 99.0
    assert percentile(ordered, 99.9) == 100.0
    assert percentile([], 99) is None


def test_the_command_line_prints_one_json_object() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.harness.open_loop", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--rate" in done.stdout


def test_latency_refuses_an_unknown_target() -> None:
    with pytest.raises(SystemExit):
        latency_main(["--only", "no-such-target"])
