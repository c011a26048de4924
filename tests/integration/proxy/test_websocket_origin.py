"""WebSocket handshakes check Origin: the app's own origins and the ones it declared, nothing else."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration.proxy.conftest import ISSUER, Hub, build_route


@pytest.fixture
def hub(hub_factory: Any) -> Hub:
    return hub_factory(
        lambda urls: [
            build_route("echo", tuple(urls), websocket_origins=("https://peta.palembang.go.id",)),
            build_route("hosted", tuple(urls), hosts=("hosted.localhost", "hosted.example")),
        ]
    )


async def handshake(hub: Hub, app: str, path: str, origin: str | None, host: str | None = None) -> int:
    headers = {"Origin": origin} if origin is not None else {}
    if host:
        headers["Host"] = host
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(
                hub.app_url(app).replace("http://", "ws://") + path, headers=headers, origin=origin
            ) as ws:
                await ws.send_str("ping")
                assert await ws.receive_str() == "ping"
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


# The app's own origin is its host with the issuer's scheme and port (ISSUER is http://127.0.0.1:8000).
@pytest.mark.parametrize(
    "origin",
    [
        "http://echo.localhost:8000",
        "http://ECHO.localhost:8000",
        "https://peta.palembang.go.id",
        "https://PETA.palembang.go.id:443",
        None,
    ],
)
async def test_the_apps_own_and_declared_origins_and_non_browsers_may_connect(hub: Hub, origin: str | None) -> None:
    assert await handshake(hub, "echo", "/ws", origin) == 101


@pytest.mark.parametrize(
    "cross_site_origin",
    [
        ISSUER,  # the hub's own pages serve no app: never one of its origins
        "http://hosted.localhost:8000",  # another app's origin
        "https://evil.example",
        "null",
        "http://echo.localhost:8000.evil.example",
        "https://echo.localhost:8000",
        "http://echo.localhost:8001",
        "http://echo.localhost",
        "https://peta.palembang.go.id.evil.example",
        "http://peta.palembang.go.id",
        "https://hosted.example",
        "file://",
        "http://127.0.0.1:8000/apps/echo/",
    ],
)
async def test_other_origins_are_refused_before_the_app(hub: Hub, cross_site_origin: str) -> None:
    hits = hub.upstreams[0].hits
    assert await handshake(hub, "echo", "/ws", cross_site_origin) == 403
    assert hub.upstreams[0].hits == hits


async def test_an_app_with_a_registered_host_accepts_each_of_its_hosts(hub: Hub) -> None:
    assert await handshake(hub, "hosted", "/ws", "http://hosted.example:8000", host="hosted.example") == 101
    assert await handshake(hub, "hosted", "/ws", "http://hosted.localhost:8000", host="hosted.example") == 101
    assert await handshake(hub, "hosted", "/ws", "http://hosted.localhost:8000") == 101
    assert await handshake(hub, "hosted", "/ws", "http://echo.localhost:8000", host="hosted.example") == 403
    assert await handshake(hub, "hosted", "/ws", "https://peta.palembang.go.id", host="hosted.example") == 403
