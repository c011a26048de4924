"""Smuggling, header spoofing, paths, hosts and h2c, sent over raw sockets to a real gateway."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.integration.proxy.conftest import Hub
from tests.support.rawhttp import connect, is_closed, read_response, send_raw


def upstream_header_values(body: bytes, name: str) -> list[str]:
    return [value for key, value in json.loads(body)["headers"] if key == name]


# Measured with uvicorn 0.54: httptools refuses CL+TE and duplicate CL itself; h11 refuses duplicate CL but
# passes CL+TE (Transfer-Encoding wins) to the app; both pass an h2c upgrade to the app.
REACHES_THE_GATEWAY = {("h11", "cl-and-te"), ("h11", "h2c"), ("httptools", "h2c")}


@pytest.mark.parametrize(
    "smuggling_request",
    [
        b"POST /echo HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: echo.localhost\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello",
        b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    ],
    ids=["cl-and-te", "duplicate-cl", "h2c"],
)
@pytest.mark.parametrize("server", ["httptools", "h11"])
def test_ambiguous_request_is_400_and_closes(
    hub_factory: Any, server: str, smuggling_request: bytes, request: pytest.FixtureRequest
) -> None:
    request_id = request.node.callspec.id.split("-", 1)[1]
    # Whichever of uvicorn's parsers refuses first (httptools refuses some itself), the upstream never sees it.
    hub = hub_factory(server={"http": server})
    with connect(hub.url) as sock:
        sock.sendall(smuggling_request)
        response = read_response(sock)
        assert response.status == 400
        if (server, request_id) in REACHES_THE_GATEWAY:  # the parser let it through: our own check answered
            assert response.header("content-type") == "application/problem+json"
        assert is_closed(sock)
    assert hub.upstreams[0].hits == 0


def test_forged_gateway_headers_never_reach_upstream(hub: Hub) -> None:
    response = send_raw(
        hub.url,
        (
            b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n"
            b"Connection: keep-alive, X-Gerbang-Assertion, X-Forwarded-For, X-Request-Id, Traceparent\r\n"
            b"X-Gerbang-Assertion: forged\r\nX-Gerbang-User: admin\r\nX-GERBANG-ROLES: kominfo\r\n"
            b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n"
            b"Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n"
        ),
    )
    assert response.status == 200
    headers = json.loads(response.body)["headers"]
    names = [name for name, _ in headers]
    [assertion] = upstream_header_values(response.body, "x-gerbang-assertion")
    assert assertion != "forged" and assertion.count(".") == 2
    assert [n for n in names if n.startswith("x-gerbang-")] == ["x-gerbang-assertion"]
    assert upstream_header_values(response.body, "x-forwarded-for") == ["127.0.0.1"]
    assert upstream_header_values(response.body, "x-forwarded-host") == ["echo.localhost:8000"]
    assert upstream_header_values(response.body, "x-forwarded-proto") == ["http"]
    assert "forwarded" not in names and "x-real-ip" not in names
    assert len(upstream_header_values(response.body, "x-request-id")) == 1
    assert len(upstream_header_values(response.body, "traceparent")) == 1


def test_request_id_and_traceparent_propagate(hub: Hub) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = send_raw(
        hub.url,
        (
            f"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nX-Request-Id: citizen-req-0001\r\n"
            f"traceparent: {trace}\r\n\r\n"
        ).encode(),
    )
    assert response.header("x-request-id") == "citizen-req-0001"
    assert upstream_header_values(response.body, "x-request-id") == ["citizen-req-0001"]
    assert upstream_header_values(response.body, "traceparent") == [trace]


def test_hop_by_hop_headers_are_dropped(hub: Hub) -> None:
    response = send_raw(
        hub.url,
        b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nConnection: x-secret\r\n"
        b"X-Secret: 1\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\n"
        b"Proxy-Authorization: Basic eDp5\r\nX-Kept: yes\r\n\r\n",
    )
    names = [name for name, _ in json.loads(response.body)["headers"]]
    assert "x-kept" in names
    for dropped in ("x-secret", "keep-alive", "te", "proxy-authorization"):
        assert dropped not in names


@pytest.mark.parametrize(
    "target",
    [
        b"/echo/../locked/",
        b"/echo/%2e%2e/locked/",
        b"/echo%2f..%2flocked/",
        b"/echo/a%5cb",
        b"/echo/a%00",
        b"/echo/..;/locked/",
        b"/echo/a\\b",
    ],
)
def test_ambiguous_path_is_400(hub: Hub, target: bytes) -> None:
    hits = hub.upstreams[0].hits
    response = send_raw(hub.url, b"GET " + target + b" HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
    assert response.status == 400
    assert json.loads(response.body)["status"] == 400
    assert hub.upstreams[0].hits == hits


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        (b"//a/./b/", "/a/b/"),
        (b"/%65cho/%7e%41", "/echo/~A"),
        (b"/a%20b%3f", "/a%20b%3F"),
    ],
)
def test_path_forwarded_is_the_normalised_path(hub: Hub, target: bytes, forwarded: str) -> None:
    response = send_raw(hub.url, b"GET " + target + b" HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
    assert response.status == 200
    assert json.loads(response.body)["raw_path"] == forwarded


def test_absolute_form_cannot_choose_the_upstream(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET http://evil.example:1/echo HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
    if response.status == 200:  # the server reduced it to the path: it must still be our upstream
        assert json.loads(response.body)["upstream"] == "upstream"
        [host] = upstream_header_values(response.body, "host")
        assert host == hub.upstream_urls[0].removeprefix("http://")
    else:
        assert response.status == 400


@pytest.mark.parametrize("method", [b"OPTIONS", b"GET", b"POST"])
@pytest.mark.parametrize("host", [b"echo.localhost", b"hub", b"localhost"])
def test_asterisk_form_is_refused_on_every_host(hub: Hub, method: bytes, host: bytes) -> None:
    """``OPTIONS *`` names no resource: one answer on the app, hub and unknown hosts (not a framework's text 404)."""
    if host == b"hub":
        host = hub.url.removeprefix("http://").encode()
    hits = hub.upstreams[0].hits
    response = send_raw(hub.url, method + b" * HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 0\r\n\r\n")
    assert response.status == 400
    assert response.header("content-type") == "application/problem+json"
    assert "asterisk-form" in json.loads(response.body)["detail"]
    assert hub.upstreams[0].hits == hits


def test_forwarded_host_does_not_change_the_upstream_nor_what_the_app_is_told(hub: Hub) -> None:
    response = send_raw(
        hub.url, b"GET /echo HTTP/1.1\r\nHost: echo.localhost:8000\r\nX-Forwarded-Host: 10.0.0.1\r\n\r\n"
    )
    assert response.status == 200
    [host] = upstream_header_values(response.body, "host")
    assert host == hub.upstream_urls[0].removeprefix("http://")
    # The app's registered host with the issuer's port, never what the client wrote.
    assert upstream_header_values(response.body, "x-forwarded-host") == ["echo.localhost:8000"]


@pytest.mark.parametrize(
    "host", [b"169.254.169.254", b"evil.example", b"echo.localhost.evil.example", b"localhost", b"ECHO.localhost.evil"]
)
def test_a_host_that_is_neither_the_hub_nor_an_app_is_refused(hub: Hub, host: bytes) -> None:
    hits = hub.upstreams[0].hits
    response = send_raw(hub.url, b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"
    assert hub.upstreams[0].hits == hits


@pytest.mark.parametrize("host", [b"echo.localhost:80:80x", b"ec ho.localhost", b"[zz]", b"echo.localhost/../"])
def test_a_malformed_host_is_a_readable_400(hub: Hub, host: bytes) -> None:
    response = send_raw(hub.url, b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert response.status == 400
    assert json.loads(response.body)["status"] == 400


def test_a_fully_qualified_host_with_its_trailing_dot_is_the_same_host(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /echo HTTP/1.1\r\nHost: ECHO.localhost.:8000\r\n\r\n")
    assert response.status == 200
    assert upstream_header_values(response.body, "x-forwarded-host") == ["echo.localhost:8000"]
    hub_page = send_raw(hub.url, b"GET /auth/jwks HTTP/1.1\r\nHost: 127.0.0.1.\r\n\r\n")
    assert hub_page.status == 200


def test_two_host_headers_are_refused(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 400


def test_missing_host_is_400(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /echo HTTP/1.0\r\n\r\n")
    assert response.status == 400


def test_oversized_headers_are_431(hub: Hub) -> None:
    big = b"X-Filler: " + b"a" * 17000 + b"\r\n"
    response = send_raw(hub.url, b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n" + big + b"\r\n")
    assert response.status == 431
    assert json.loads(response.body)["title"] == "Request Header Fields Too Large"


def test_declared_body_over_limit_is_413_before_upstream(hub: Hub) -> None:
    hits = hub.upstreams[0].hits
    with connect(hub.url) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 2000000\r\n\r\n" + b"a" * 1000)
        response = read_response(sock)
        assert response.status == 413
        assert is_closed(sock)
    assert hub.upstreams[0].hits == hits


def test_chunked_body_over_limit_is_413(hub: Hub) -> None:
    chunk = b"a" * 65536
    with connect(hub.url) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: echo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(20):  # 1.25 MiB against a 1 MiB limit
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
    assert response.status == 413


def test_hub_session_cookie_never_reaches_the_app(hub_factory: Any) -> None:
    hub = hub_factory()  # the hub hides its own cookies (gateway.app.HUB_COOKIES)
    response = send_raw(
        hub.url, b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nCookie: gerbang_session=s3cret; parkir_pref=1\r\n\r\n"
    )
    assert upstream_header_values(response.body, "cookie") == ["parkir_pref=1"]


IDENTITY_SPOOF = (
    b"X-User-Id: 1\r\nX_User_Id: 1\r\nX-User-Roles: kominfo\r\nX-Original-URL: /admin\r\n"
    b"X-Rewrite-URL: /admin\r\nX-Forwarded-User: admin\r\nX-Forwarded-Prefix: /admin\r\n"
    b"X-HTTP-Method-Override: DELETE\r\nRemote-User: admin\r\nX-Auth-Request-Email: a@b\r\n"
    b"X-Gerbang-Sub: admin\r\nTrue-Client-IP: 10.0.0.1\r\nX-Remote-User: admin\r\n"
)
IDENTITY_NAMES = {
    "x-user-id",
    "x_user_id",
    "x-user-roles",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-user",
    "x-forwarded-prefix",
    "x-http-method-override",
    "remote-user",
    "x-auth-request-email",
    "x-gerbang-sub",
    "true-client-ip",
    "x-remote-user",
}


def test_identity_shaped_headers_never_reach_the_app(hub: Hub) -> None:
    response = send_raw(
        hub.url, b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\n" + IDENTITY_SPOOF + b"X-Kept: yes\r\n\r\n"
    )
    assert response.status == 200
    names = {name for name, _ in json.loads(response.body)["headers"]}
    assert "x-kept" in names
    assert names & IDENTITY_NAMES == set()


async def test_identity_shaped_headers_never_reach_a_websocket_app(hub: Hub) -> None:
    spoof = [tuple(line.split(": ", 1)) for line in IDENTITY_SPOOF.decode().split("\r\n") if line]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{hub.app_url('echo')}/ws", headers=spoof) as ws:
            await ws.send_str("headers")
            names = set(json.loads(await ws.receive_str()))
    assert "x-gerbang-assertion" in names
    assert names & IDENTITY_NAMES == set()
