"""Head and body limits hold on every route (apps, provider, console, operations), over raw sockets to a real
uvicorn running the guarded protocol as ``gerbang serve`` does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.proxy.conftest import Hub, build_route
from tests.support.rawhttp import connect, is_closed, read_response

HUB = b"127.0.0.1:8000"  # the issuer's host: the provider, the console, operations
APP = b"echo.localhost:8000"  # an app on its own origin
SIGN_IN = b"portal.localhost:8000"  # a session app: the gateway's own sign-in pages on its host
ROUTES = [
    (APP, b"/echo"),
    (HUB, b"/auth/jwks"),
    (HUB, b"/.well-known/openid-configuration"),
    (HUB, b"/healthz"),
    (HUB, b"/admin/"),
    (HUB, b"/auth/login"),
    (SIGN_IN, b"/.gerbang/login"),
]


def _ids(route: tuple[bytes, bytes]) -> str:
    return (route[0].split(b".")[0] + route[1]).decode()


@pytest.fixture
def hub(hub_factory: Any) -> Hub:
    return hub_factory(
        lambda urls: [build_route("echo", tuple(urls)), build_route("portal", tuple(urls), auth_mode="session")],
        max_header_bytes=4096,
        request_body_timeout=0.6,
        request_body_min_rate=100,
    )


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_a_huge_header_sent_in_one_read_is_431_on_every_route(hub: Hub, route: tuple[bytes, bytes]) -> None:
    host, path = route
    request = b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nX-Filler: " + b"a" * 100_000 + b"\r\n\r\n"
    with connect(hub.url) as sock:
        sock.sendall(request)  # one write: the head is complete in the server's first read
        response = read_response(sock)
        assert response.status == 431
        assert response.header("content-type") == "application/problem+json"
        assert is_closed(sock)
    assert hub.upstreams[0].hits == 0


@pytest.mark.parametrize("route", [(HUB, b"/auth/jwks"), (APP, b"/echo")], ids=_ids)
def test_many_small_headers_over_the_cap_are_431(hub: Hub, route: tuple[bytes, bytes]) -> None:
    host, path = route
    headers = b"".join(b"X-H%d: %s\r\n" % (index, b"v" * 40) for index in range(200))  # ~10 KB > 4 KB
    with connect(hub.url) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + headers + b"\r\n")
        assert read_response(sock).status == 431


def test_headers_just_under_the_cap_pass_on_the_provider(hub: Hub) -> None:
    with connect(hub.url) as sock:
        sock.sendall(b"GET /auth/jwks HTTP/1.1\r\nHost: " + HUB + b"\r\nX-Filler: " + b"a" * 3000 + b"\r\n\r\n")
        assert read_response(sock).status == 200


@pytest.mark.parametrize("route", [(HUB, b"/auth/jwks"), (APP, b"/echo")], ids=_ids)
def test_an_overlong_request_target_is_414(hub: Hub, route: tuple[bytes, bytes]) -> None:
    host, path = route
    with connect(hub.url) as sock:
        sock.sendall(b"GET " + path + b"?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        response = read_response(sock)
        assert response.status == 414
        assert json.loads(response.body)["title"] == "URI Too Long"


def trickle(
    hub: Hub,
    route: tuple[bytes, bytes],
    content_type: bytes = b"application/x-www-form-urlencoded",
    every: float = 0.3,
    seconds: float = 6,
) -> tuple[int | None, float]:
    """A body declared as 10 kB and sent one byte every ``every`` seconds; the status and when it came."""
    started = time.monotonic()
    with connect(hub.url, timeout=seconds + 5) as sock:
        host, path = route
        sock.sendall(
            b"POST "
            + path
            + b" HTTP/1.1\r\nHost: "
            + host
            + b"\r\nContent-Type: "
            + content_type
            + b"\r\nContent-Length: 10000\r\n\r\n"
        )
        try:
            while time.monotonic() - started < seconds:
                sock.sendall(b"a")
                time.sleep(every)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status: int | None = read_response(sock).status
        except ConnectionError:
            status = None
        return status, time.monotonic() - started


@pytest.mark.parametrize(
    "route",
    [
        (APP, b"/upload"),
        (HUB, b"/auth/login"),
        (HUB, b"/auth/token"),
        (HUB, b"/auth/register"),
        (SIGN_IN, b"/.gerbang/logout"),
    ],
    ids=_ids,
)
def test_a_body_trickled_byte_by_byte_is_cut_off_on_every_route(hub: Hub, route: tuple[bytes, bytes]) -> None:
    status, elapsed = trickle(hub, route)
    assert status == 408
    assert elapsed < 4  # 0.6 s grace + 1 s per 100 bytes: a few bytes buy almost nothing


def test_an_honest_body_at_a_fair_rate_passes(hub: Hub) -> None:
    started = time.monotonic()
    with connect(hub.url) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: " + APP + b"\r\nContent-Length: 3000\r\n\r\n")
        for _ in range(15):  # 200 bytes every 0.1 s for 1.5 s: well above 100 bytes/s, longer than the grace
            sock.sendall(b"b" * 200)
            time.sleep(0.1)
        response = read_response(sock)
    assert response.status == 200 and json.loads(response.body)["received"] == 3000
    assert time.monotonic() - started > 1.4


@pytest.mark.parametrize(
    ("target", "host"),
    [
        (b"http://" + HUB + b"/admin/", APP),  # the balancer may route by the URL (the hub), Gerbang by Host (app)
        (b"http://" + APP + b"/echo", HUB),
        (b"http://" + SIGN_IN + b"/.gerbang/login", APP),
        (b"ftp://" + APP + b"/echo", APP),
        (APP, APP),  # authority-form: this is no forward proxy (CONNECT's form, with any method)
    ],
    ids=["hub-url-app-host", "app-url-hub-host", "other-app", "ftp", "authority-form"],
)
def test_a_request_target_naming_another_origin_than_host_is_400(hub: Hub, target: bytes, host: bytes) -> None:
    with connect(hub.url) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        response = read_response(sock)
        assert response.status == 400
        assert response.header("content-type") == "application/problem+json"
        assert is_closed(sock)
    assert hub.upstreams[0].hits == 0


def test_an_absolute_form_target_naming_the_host_is_served(hub: Hub) -> None:
    """RFC 9112 §3.2.2: a server accepts the absolute form; its authority and Host agree here."""
    with connect(hub.url) as sock:
        sock.sendall(b"GET http://" + APP.upper() + b"/echo HTTP/1.1\r\nHost: " + APP + b"\r\n\r\n")
        assert read_response(sock).status == 200
    assert hub.upstreams[0].hits == 1
