"""A client's JWKS endpoint on a loopback port (RFC 7591 ``jwks_uri``), with the ways such a server can misbehave."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class KeyServer:
    """``/jwks``: the current set (``keys`` may be replaced to rotate); ``hits`` counts every request per path."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits: dict[str, int] = {}
        self.status = 200

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/chunked":  # the set in three pieces, a pause between: a reader must wait for all of them
            body = json.dumps({"keys": self.keys}).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            for start in range(0, len(body), len(body) // 3 + 1):
                await send(
                    {"type": "http.response.body", "body": body[start : start + len(body) // 3 + 1], "more_body": True}
                )
                await asyncio.sleep(0.05)
            await send({"type": "http.response.body", "body": b""})
            return
        status, headers, body = await self._answer(path)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        as_json = [(b"content-type", b"application/json")]
        if path == "/jwks":
            return self.status, as_json, json.dumps({"keys": self.keys}).encode()
        if path == "/big":  # a valid set padded past the hub's size cap
            return 200, as_json, json.dumps({"keys": self.keys, "pad": "x" * 70_000}).encode()
        if path == "/private":  # a client that published its private key
            return 200, as_json, json.dumps({"keys": [{**key, "d": "AAAA"} for key in self.keys]}).encode()
        if path == "/redirect":
            return 302, [(b"location", b"/jwks")], b""
        if path == "/slow":
            await asyncio.sleep(3)
            return 200, as_json, json.dumps({"keys": self.keys}).encode()
        if path == "/garbage":
            return 200, [(b"content-type", b"text/html")], b"<html>not keys</html>"
        return 404, [], b""
