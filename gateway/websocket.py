"""WebSocket proxying (RFC 6455): the client's socket is accepted only after the upstream answered 101.

Messages pass both ways unchanged (text stays text, binary stays binary); a close on either
side closes the other with the same code. A handshake the upstream refuses is a 502 for the
client (sent as an HTTP denial response where the server supports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
from starlette.types import Receive, Send
from yarl import URL

from gateway.errors import BadGateway, GatewayTimeout
from gateway.exchange import Exchange
from gateway.metrics import GatewayMetrics
from gateway.upstreams import Upstreams

# Codes an endpoint may not put in a Close frame (RFC 6455 §7.4.1): say "going away"/"error" instead.
_RESERVED_CLOSE = {1005: 1000, 1006: 1011, 1015: 1011}


class WebSocketProxy:
    def __init__(
        self,
        upstreams: Upstreams,
        metrics: GatewayMetrics,
        connect_timeout: float,
        max_message_bytes: int,
        socket_factory: Any = None,
    ) -> None:
        self.upstreams, self.metrics = upstreams, metrics
        self.connect_timeout, self.max_message_bytes = connect_timeout, max_message_bytes
        self.socket_factory = socket_factory
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.session is None:
            # A dummy cookie jar: one session serves every user; cookies must never cross between them.
            connector = aiohttp.TCPConnector(limit=0, socket_factory=self.socket_factory)
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def forward(self, exchange: Exchange, protocols: tuple[str, ...], receive: Receive, send: Send) -> int:
        session = self.session
        assert session is not None, "started in the lifespan"
        pool = self.upstreams.pool(exchange.route.slug, exchange.route.upstreams)
        target = pool.choose()
        url = "ws" + target.base.removeprefix("http") + exchange.upstream_path
        if exchange.head.query:
            url += "?" + exchange.head.query.decode("latin-1")
        headers = exchange.upstream_headers
        if exchange.integrity is not None:  # a signed app: the handshake carries the hub's message signature
            headers = list(headers)
            exchange.integrity.request_head(exchange, headers)
        try:
            async with asyncio.timeout(self.connect_timeout):
                upstream = await session.ws_connect(
                    URL(url, encoded=True),
                    headers=headers,
                    protocols=protocols,
                    autoclose=False,
                    autoping=True,
                    max_msg_size=self.max_message_bytes,
                )
        except aiohttp.WSServerHandshakeError as exc:
            pool.record_success(target)  # the upstream is alive; it refused this handshake
            raise BadGateway("the app's service refused the WebSocket", log_detail=repr(exc)) from None
        except TimeoutError:
            pool.record_failure(target)
            raise GatewayTimeout("the app's service did not answer in time") from None
        except aiohttp.ClientError as exc:
            pool.record_failure(target)
            raise BadGateway("the app's service could not be reached", log_detail=repr(exc)) from None
        pool.record_success(target)
        await send(
            {"type": "websocket.accept", "subprotocol": upstream.protocol, "headers": list(exchange.response_headers)}
        )
        self.metrics.observe(exchange.route.slug, 101, time.perf_counter() - exchange.started)
        await _relay(upstream, receive, send)
        return 101


async def _relay(upstream: aiohttp.ClientWebSocketResponse, receive: Receive, send: Send) -> None:
    inbound = asyncio.ensure_future(_client_to_upstream(upstream, receive))
    outbound = asyncio.ensure_future(_upstream_to_client(upstream, send))
    try:
        await asyncio.wait((inbound, outbound), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (inbound, outbound):
            task.cancel()
        for task in (inbound, outbound):
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                await task
        if not upstream.closed:
            await upstream.close()


async def _client_to_upstream(upstream: aiohttp.ClientWebSocketResponse, receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            if message.get("text") is not None:
                await upstream.send_str(message["text"])
            else:
                await upstream.send_bytes(message.get("bytes") or b"")
        elif message["type"] == "websocket.disconnect":
            code = message.get("code") or 1000
            await upstream.close(code=_RESERVED_CLOSE.get(code, code))
            return


async def _upstream_to_client(upstream: aiohttp.ClientWebSocketResponse, send: Send) -> None:
    while True:
        message = await upstream.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type == aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        else:  # CLOSE, CLOSING, CLOSED, ERROR
            code = upstream.close_code or (1000 if message.type == aiohttp.WSMsgType.CLOSE else 1011)
            if message.type == aiohttp.WSMsgType.CLOSE:
                await upstream.close()
            await send({"type": "websocket.close", "code": _RESERVED_CLOSE.get(code, code)})
            return
