"""The app plane serves app hosts at the protocol level inside the one listener; the hub stays on ASGI."""

from __future__ import annotations

import httpx

from tests.integration.proxy.conftest import Hub
from tests.support.rawhttp import connect, read_response


def test_app_hosts_take_the_app_plane_and_the_hub_does_not(hub: Hub) -> None:
    before = hub.app.app_plane.served
    response = httpx.get(hub.app_url("echo") + "/echo?a=1")
    assert response.status_code == 200 and response.json()["query"] == "a=1"
    assert hub.app.app_plane.served == before + 1
    assert httpx.get(hub.url + "/healthz").status_code == 200
    assert hub.app.app_plane.served == before + 1


def test_http10_client_gets_an_unchunked_body_ended_by_close(hub: Hub) -> None:
    with connect(hub.url) as sock:
        sock.sendall(b"GET /stream?chunks=3&size=10 HTTP/1.0\r\nHost: echo.localhost\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"x" * 30


def test_head_then_keep_alive_reuse(hub: Hub) -> None:
    with connect(hub.url) as sock:
        sock.sendall(b"HEAD /echo HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")  # no body after a HEAD answer
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
        second = read_response(sock)
    assert second.status == 200 and b'"method": "GET"' in second.body


def test_expect_100_continue_is_answered_before_the_body_is_forwarded(hub: Hub) -> None:
    with connect(hub.url) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        response = read_response(sock)
    assert (response.status, response.body) == (200, b'{"received": 5}')


def test_chunked_request_body_is_forwarded_whole(hub: Hub) -> None:
    with connect(hub.url) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        response = read_response(sock)
    assert (response.status, response.body) == (200, b'{"received": 11}')
