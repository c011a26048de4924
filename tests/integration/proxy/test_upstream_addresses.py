"""Connect-time upstream address checks: whatever the route table holds, a refused address is never connected to."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration.proxy.conftest import Hub, build_route


def by_name(urls: list[str]) -> list[Any]:
    # A name that resolves to loopback now: as a rebinding name would after its registration was checked.
    return [build_route("echo", (urls[0].replace("127.0.0.1", "localhost"),)), build_route("literal", (urls[0],))]


@pytest.mark.parametrize("app", ["echo", "literal"])
async def test_refused_address_is_never_connected_to(hub_factory: Any, app: str) -> None:
    hub: Hub = hub_factory(by_name, upstream_allow=(), upstream_retries=0)
    async with aiohttp.ClientSession() as session, session.get(hub.app_url(app) + "/echo") as response:
        assert response.status == 502
        assert "127.0.0.1" not in await response.text()  # no internals in the answer
    assert hub.upstreams[0].hits == 0


async def test_refused_address_is_never_connected_to_for_websockets(hub_factory: Any) -> None:
    hub: Hub = hub_factory(by_name, upstream_allow=())
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(hub.app_url("echo").replace("http://", "ws://") + "/ws")
    assert hub.upstreams[0].hits == 0


async def test_allowed_address_is_connected_to(hub_factory: Any) -> None:
    hub: Hub = hub_factory(by_name, upstream_allow=("127.0.0.0/8", "::1/128"))
    async with aiohttp.ClientSession() as session, session.get(hub.app_url("echo") + "/echo") as response:
        assert response.status == 200
