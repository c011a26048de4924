"""WebSocket proxying: accepted only after the upstream's 101, messages both ways, close codes propagated."""

from __future__ import annotations

from typing import Any

import aiohttp
import jwt
import pytest
from yarl import URL

from tests.integration.proxy.conftest import Hub
from tests.support.eventually import eventually_async


def ws_url(hub: Hub, app: str, path: str) -> URL:
    return URL(hub.app_url(app).replace("http://", "ws://") + path, encoded=True)  # sent as written


async def test_messages_pass_both_ways_with_subprotocol_and_assertion(hub: Hub) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(hub, "echo", "/ws"), protocols=("chat",)) as ws:
            assert ws.protocol == "chat"
            await ws.send_str("halo palembang")
            assert await ws.receive_str() == "halo palembang"
            await ws.send_bytes(b"\x00\x01binary")
            assert await ws.receive_bytes() == b"\x00\x01binary"
            await ws.send_str("whoami")
            assertion = (await ws.receive_str()).removeprefix("assertion:")
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["aud"] == "http://echo.localhost:8000/"


async def test_upstream_close_code_reaches_the_client(hub: Hub) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(hub, "echo", "/ws")) as ws:
            await ws.send_str("close:4001")
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4001


async def test_client_close_reaches_the_upstream(hub: Hub) -> None:
    upstream = hub.upstreams[0]
    before = upstream.disconnects
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(hub, "echo", "/ws")) as ws:
            await ws.send_str("ping")
            assert await ws.receive_str() == "ping"
            await ws.close(code=4002)
    await eventually_async(lambda: upstream.disconnects != before, timeout=5)
    assert upstream.disconnects == before + 1


async def test_refused_upstream_handshake_is_not_accepted(hub: Hub) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url(hub, "echo", "/ws-refuse"))
    assert refused.value.status == 502


@pytest.mark.parametrize(
    ("app", "path", "status"),
    [("nope", "/ws", 404), ("locked", "/ws", 401), ("suspended", "/ws", 503), ("echo", "/%2e%2e/ws", 400)],
)
async def test_refused_before_upstream(hub: Hub, app: str, path: str, status: int) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url(hub, app, path))
    assert refused.value.status == status


async def test_unreachable_upstream_is_502(hub_factory: Any) -> None:
    from tests.integration.proxy.conftest import build_route

    hub: Hub = hub_factory(lambda urls: [build_route("echo", ("http://127.0.0.1:1",))])
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url(hub, "echo", "/ws"))
    assert refused.value.status == 502


async def test_a_client_message_over_the_limit_closes_the_socket_before_the_app(hub_factory: Any) -> None:
    limited: Hub = hub_factory(websocket_max_message_bytes=64 * 1024)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(limited, "echo", "/ws")) as ws:
            await ws.send_str("x" * 1000)
            assert await ws.receive_str() == "x" * 1000
            await ws.send_bytes(b"y" * (256 * 1024))  # the upstream's limit holds for the client too
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert ws.close_code == 1009  # RFC 6455 §7.4.1: message too big
    assert limited.upstreams[0].largest_ws_message == 1000  # the big one never reached the app
