"""The floor for a Python gateway: a raw ASGI app that forwards every request with one aiohttp session.

No routing, no authentication, no header hygiene, no assertion: uvicorn (httptools, uvloop) + aiohttp,
served with Gerbang's own uvicorn options. An honest proxy all the same: the path and query string are
forwarded byte for byte and a request body is forwarded (read whole: the benchmark's requests are small).
It is the floor of the stack Gerbang used before its app plane (uvicorn + ASGI + aiohttp).

    UPSTREAM=http://127.0.0.1:9000 python bare_proxy.py PORT
"""

from __future__ import annotations

import os
import sys

import aiohttp
import uvicorn
import yarl

UPSTREAM = os.environ["UPSTREAM"]
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"host"})
session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0), auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
                )
                await send({"type": "lifespan.startup.complete"})
            else:
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = {
        name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"] if name not in HOP_BY_HOP
    }
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    async with session.request(
        scope["method"],
        yarl.URL(UPSTREAM + target.decode("latin-1"), encoded=True),
        headers=headers,
        data=body or None,
        allow_redirects=False,
    ) as response:
        answer = await response.read()
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k, v) for k, v in response.raw_headers if k.lower() not in HOP_BY_HOP],
            }
        )
        await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
    )
