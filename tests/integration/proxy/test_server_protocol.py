"""The request-head deadline and size cap uvicorn lacks (gateway.server_protocol), on a real server."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.integration.proxy.conftest import Hub
from tests.support.rawhttp import connect, is_closed, read_response


def test_slowloris_head_gets_408_and_loses_its_connection(hub_factory: Any) -> None:
    hub: Hub = hub_factory(request_head_timeout=0.5)
    started = time.monotonic()
    with connect(hub.url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: echo.localhost\r\n")
        try:
            for index in range(20):  # a header line every 0.1 s: each byte resets no timer
                time.sleep(0.1)
                sock.sendall(b"X-Drip-%d: 1\r\n" % index)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
        assert response.status == 408
        assert json.loads(response.body)["status"] == 408
        assert is_closed(sock)
    assert time.monotonic() - started < 2.5
    assert hub.upstreams[0].hits == 0


def test_idle_connection_is_closed_silently(hub_factory: Any) -> None:
    hub: Hub = hub_factory(request_head_timeout=0.3)
    with connect(hub.url) as sock:
        assert is_closed(sock, wait=2.0)


def test_kept_alive_connection_gets_a_fresh_deadline_per_request(hub_factory: Any) -> None:
    hub: Hub = hub_factory(request_head_timeout=0.5)
    with connect(hub.url) as sock:
        for _ in range(3):
            time.sleep(0.3)  # 0.9 s on one connection, each head well within its own deadline
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
            assert read_response(sock).status == 200


def test_a_later_request_dribbling_its_head_is_cut_at_its_own_deadline(hub_factory: Any) -> None:
    # One timer per connection: armed by the first request, it must move to the second request's deadline
    # (neither fire early on it, nor forget it once the first head came in time).
    hub: Hub = hub_factory(request_head_timeout=0.5)
    with connect(hub.url) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
        assert read_response(sock).status == 200
        time.sleep(0.3)
        second_began = time.monotonic()
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n")
        try:
            for index in range(20):
                time.sleep(0.05)
                sock.sendall(b"X-Drip-%d: 1\r\n" % index)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
        cut_after = time.monotonic() - second_began
        assert response.status == 408
        assert is_closed(sock)
    assert 0.45 <= cut_after < 1.5  # its own 0.5 s, not what was left of the first request's
    assert hub.upstreams[0].hits == 1


def test_huge_head_is_cut_off_with_431(hub_factory: Any) -> None:
    hub: Hub = hub_factory(max_header_bytes=4096)
    with connect(hub.url) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: echo.localhost\r\n")
        try:
            for _ in range(64):  # 1 MiB of headers that never end
                sock.sendall(b"X-Filler: " + b"a" * 16000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
        assert response.status == 431
        assert response.header("content-type") == "application/problem+json"
    assert hub.upstreams[0].hits == 0
