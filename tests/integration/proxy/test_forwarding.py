"""Forwarding basics through a real gateway: paths, headers to and from the upstream, problem+json."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import jwt
import pytest

from tests.integration.proxy.conftest import Hub
from tests.support.rawhttp import send_raw


def upstream_headers(document: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in document["headers"] if key == name]


async def get(url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(url, allow_redirects=False, **kwargs) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, await response.read()


async def test_forwards_path_query_and_adds_gateway_headers(hub: Hub) -> None:
    status, headers, body = await get(f"{hub.app_url('echo')}/tiket/1?b=2&a=%20x")
    document = json.loads(body)
    assert status == 200
    assert document["raw_path"] == "/tiket/1"
    assert document["query"] == "b=2&a=%20x"
    assert upstream_headers(document, "x-forwarded-for") == ["127.0.0.1"]
    assert upstream_headers(document, "x-forwarded-proto") == ["http"]
    assert upstream_headers(document, "x-request-id") == [headers["x-request-id"]]
    [host] = upstream_headers(document, "host")
    assert host == hub.upstream_urls[0].removeprefix("http://")
    [assertion] = upstream_headers(document, "x-gerbang-assertion")
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["aud"] == "http://echo.localhost:8000/"
    assert "sub" not in claims  # a public app's assertion names no user
    assert claims["exp"] - claims["iat"] <= 60


async def test_app_root_forwards_slash(hub: Hub) -> None:
    for url in (hub.app_url("echo"), hub.app_url("echo") + "/"):
        status, _, body = await get(url)
        assert status == 200
        assert json.loads(body)["raw_path"] == "/"


async def test_unknown_host_is_a_problem_404(hub: Hub) -> None:
    status, headers, body = await get(f"{hub.app_url('nope')}/x", headers={"X-Request-Id": "req-12345678"})
    problem = json.loads(body)
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert problem == {
        "type": "urn:gerbang:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no app is served at this host name",
        "instance": "req-12345678",
    }


async def test_suspended_app_is_503(hub: Hub) -> None:
    status, headers, body = await get(f"{hub.app_url('suspended')}/")
    assert status == 503
    assert json.loads(body)["status"] == 503
    for path in ("/.gerbang/login", "/.gerbang/logout"):  # its sign-in is suspended with it
        assert (await get(f"{hub.app_url('suspended')}{path}"))[0] == 503
    assert hub.upstreams[0].hits >= 0


async def test_bearer_app_without_authenticator_is_401_with_challenge(hub: Hub) -> None:
    status, headers, body = await get(f"{hub.app_url('locked')}/")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert "authenticator" not in body.decode()  # the log detail stays in the log


async def test_upstream_redirect_is_passed_not_followed(hub: Hub) -> None:
    status, headers, _ = await get(f"{hub.app_url('echo')}/redirect")
    assert status == 302
    assert headers["location"] == "http://example.invalid/elsewhere"


async def test_compressed_body_passes_untouched(hub: Hub) -> None:
    from tests.support.upstream import GZIP_BODY

    status, headers, body = await get(f"{hub.app_url('echo')}/gzip")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert body == GZIP_BODY


async def test_upstream_cookies_are_not_kept_between_users(hub: Hub) -> None:
    status, headers, _ = await get(f"{hub.app_url('echo')}/cookie")
    assert headers["set-cookie"].startswith("upstream=secret")
    _, _, body = await get(f"{hub.app_url('echo')}/echo")
    assert upstream_headers(json.loads(body), "cookie") == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_body_methods_forward_the_body(hub: Hub, method: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{hub.app_url('echo')}/echo", data=b"a" * 1000) as response:
            document = await response.json()
    assert document["method"] == method
    assert document["body_length"] == 1000
    assert upstream_headers(document, "content-length") == ["1000"]


def test_chunked_request_body_is_forwarded(hub: Hub) -> None:
    request = (
        b"POST /echo HTTP/1.1\r\nHost: echo.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    response = send_raw(hub.url, request)
    assert response.status == 200
    assert json.loads(response.body)["body_length"] == 11


def test_problem_for_provider_paths_is_not_applied(hub: Hub) -> None:
    response = send_raw(hub.url, b"GET /auth/jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert response.status == 200
    assert "keys" in json.loads(response.body)


async def test_head_request_gets_headers_without_body(hub: Hub) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.head(f"{hub.app_url('echo')}/gzip") as response:
            assert response.status == 200
            assert int(response.headers["content-length"]) > 0
            assert await response.read() == b""


@pytest.mark.parametrize("method", [b"TRACE", b"CONNECT"])
def test_trace_and_connect_are_refused(hub: Hub, method: bytes) -> None:
    target = b"/echo" if method == b"TRACE" else b"127.0.0.1:1"
    response = send_raw(hub.url, method + b" " + target + b" HTTP/1.1\r\nHost: echo.localhost\r\n\r\n")
    assert response.status in (400, 405)
    if method == b"TRACE":
        assert response.status == 405
        assert "GET" in (response.header("allow") or "")


def test_expect_continue_is_answered_by_the_gateway(hub: Hub) -> None:
    from tests.support.rawhttp import connect, read_response

    with connect(hub.url) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        response = read_response(sock)
    document = json.loads(response.body)
    assert document["body_length"] == 5
    assert upstream_headers(document, "expect") == []


async def test_the_gateways_sign_in_exists_on_session_apps_hosts_only(hub: Hub) -> None:
    status, _, body = await get(f"{hub.app_url('echo')}/.gerbang/login")  # a public app: its own path
    assert status == 200 and json.loads(body)["raw_path"] == "/.gerbang/login"
    assert (await get(f"{hub.app_url('locked')}/.gerbang/login"))[0] == 401  # a bearer app: still needs a token
