"""A tiny real OPD upstream for gateway tests (raw ASGI, served by uvicorn on loopback).

/echo       JSON: method, raw path, query, headers (list of pairs), body length
/upload     counts the body without keeping it; JSON: bytes received
/stream     ?chunks=N&size=S&delay=D: N chunks of S bytes (no Content-Length); N=0: forever
/slow       ?delay=D: waits D seconds before the response head
/redirect   302 to http://example.invalid/elsewhere
/gzip       a gzip-encoded body with Content-Encoding: gzip
/cookie     sets a cookie
/headers    ?h=NAME:VALUE (repeatable): answers 200 with exactly those response headers added
/status     ?code=N
/ws         WebSocket echo; "close:CODE" closes with CODE; accepts subprotocol "chat"
/ws-refuse  refuses the WebSocket handshake (403)
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any
from urllib.parse import parse_qs, parse_qsl

GZIP_BODY = gzip.compress(b"hello compressed world" * 10)


class Upstream:
    def __init__(self, name: str = "upstream") -> None:
        self.name = name
        self.hits = 0
        self.disconnects = 0
        self.stream_chunks_sent = 0
        self.largest_ws_message = 0  # bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.hits += 1
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        handler = getattr(self, "http_" + scope["path"].strip("/").replace("-", "_"), self.http_echo)
        await handler(scope, receive, send, query)

    async def http_echo(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        length = await _drain(receive)
        document = {
            "upstream": self.name,
            "method": scope["method"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body_length": length,
        }
        await _json(send, 200, document)

    async def http_upload(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await _json(send, 200, {"received": await _drain(receive)})

    async def http_stream(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        chunks, size, delay = (
            int(query.get("chunks", "3")),
            int(query.get("size", "1024")),
            float(query.get("delay", "0")),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"multipart/x-mixed-replace; boundary=frame")],
            }
        )
        sent = 0
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            while chunks == 0 or sent < chunks:
                if watcher.done():
                    self.disconnects += 1
                    return
                await send({"type": "http.response.body", "body": b"x" * size, "more_body": True})
                sent += 1
                self.stream_chunks_sent += 1
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()

    async def http_slow(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await asyncio.sleep(float(query.get("delay", "1")))
        await _json(send, 200, {"slow": True})

    async def http_redirect(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", b"http://example.invalid/elsewhere"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def http_gzip(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-encoding", b"gzip"),
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(GZIP_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": GZIP_BODY})

    async def http_cookie(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"set-cookie", b"upstream=secret; Path=/"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    async def http_headers(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        added = [
            tuple(part.encode("latin-1") for part in value.split(":", 1))
            for key, value in parse_qsl(scope["query_string"].decode())
            if key == "h"
        ]
        await send({"type": "http.response.start", "status": 200, "headers": [*added, (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def http_status(self, scope: dict[str, Any], receive: Any, send: Any, query: dict[str, str]) -> None:
        await _json(send, int(query.get("code", "200")), {"code": query.get("code")})

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        if scope["path"] == "/ws-refuse":
            await send({"type": "websocket.close", "code": 1008})
            return
        subprotocol = "chat" if "chat" in scope.get("subprotocols", []) else None
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnects += 1
                return
            text = message.get("text")
            size = len(text.encode()) if text is not None else len(message.get("bytes") or b"")
            self.largest_ws_message = max(self.largest_ws_message, size)
            if text is not None and text.startswith("close:"):
                await send({"type": "websocket.close", "code": int(text.split(":", 1)[1])})
                return
            if text == "whoami":
                assertion = dict(scope["headers"]).get(b"x-gerbang-assertion", b"").decode()
                await send({"type": "websocket.send", "text": "assertion:" + assertion})
            elif text == "headers":  # the handshake's headers as the upstream received them
                names = [name.decode("latin-1") for name, _ in scope["headers"]]
                await send({"type": "websocket.send", "text": json.dumps(names)})
            elif text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _drain(receive: Any) -> int:
    total = 0
    while True:
        message = await receive()
        total += len(message.get("body", b""))
        if not message.get("more_body"):
            return total


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _json(send: Any, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
