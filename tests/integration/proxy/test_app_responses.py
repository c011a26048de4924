"""What an app may send to the browser, through a real gateway: nothing that reaches beyond its own origin.

Each refused header is dropped from the answer (the rest of it passes), logged and counted in
``gerbang_gateway_response_headers_dropped_total{app,reason}``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.integration.proxy.conftest import Hub
from tests.support.rawhttp import send_raw


async def answer(hub: Hub, *headers: str) -> tuple[int, list[tuple[str, str]]]:
    query = "&".join("h=" + quote(header, safe="") for header in headers)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{hub.app_url('echo')}/headers?{query}", allow_redirects=False) as response:
            return response.status, [(k.decode().lower(), v.decode()) for k, v in response.raw_headers]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("set-cookie:tossed=1; Domain=localhost; Path=/", "cookie-domain"),
        ("set-cookie:tossed=1; domain=.LOCALHOST", "cookie-domain"),
        ("set-cookie:tossed=1; Domain=127.0.0.1", "cookie-domain"),
        ("set-cookie:gerbang_session=fixated; Path=/", "cookie-hub-name"),
        ("set-cookie:gerbang_gw=fixated; Path=/", "cookie-hub-name"),
        ("set-cookie:__Host-gerbang_gw=fixated; Path=/; Secure", "cookie-hub-name"),
        ("set-cookie:__secure-GERBANG_csrf=x; Secure", "cookie-hub-name"),
        ("service-worker-allowed:/", "service-worker-allowed"),
    ],
)
async def test_headers_that_reach_beyond_the_app_are_dropped_logged_and_counted(
    hub: Hub, header: str, reason: str
) -> None:
    name = header.split(":", 1)[0]
    status, headers = await answer(hub, header, "set-cookie:mine=1; Path=/", "x-app:kept")
    assert status == 200
    assert ("set-cookie", "mine=1; Path=/") in headers and ("x-app", "kept") in headers
    assert (name, header.split(":", 1)[1]) not in headers
    metrics = send_raw(hub.url, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").body.decode()
    assert f'gerbang_gateway_response_headers_dropped_total{{app="echo",reason="{reason}"}}' in metrics


async def test_the_apps_own_cookies_pass_untouched(hub: Hub) -> None:
    own = (
        "set-cookie:sid=1; Path=/; HttpOnly; SameSite=Lax",
        "set-cookie:__Host-sid=2; Path=/; Secure",
        "set-cookie:scoped=3; Domain=echo.localhost",
    )
    status, headers = await answer(hub, *own)
    assert status == 200
    assert [value for name, value in headers if name == "set-cookie"] == [header.split(":", 1)[1] for header in own]


def test_the_hubs_cookies_never_reach_the_app(hub: Any) -> None:
    response = send_raw(
        hub.url,
        b"GET /echo HTTP/1.1\r\nHost: echo.localhost\r\nCookie: gerbang_session=s; "
        b"sid=1; __Host-gerbang_gw=g; GERBANG_x=1; theme=dark\r\n\r\n",
    )
    [cookie] = [value for name, value in json.loads(response.body)["headers"] if name == "cookie"]
    assert cookie == "sid=1; theme=dark"
