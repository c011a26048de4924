"""A small city for gateway identity tests: OPD units, users, a key ring, a JWKS server and OPD upstreams."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware, GerbangAssertionWSGIMiddleware
from idp.org import add_opd

SECRET = "s" * 40


async def seed_opd(sessionmaker: async_sessionmaker[AsyncSession], now: int) -> None:
    async with sessionmaker() as session, session.begin():
        await add_opd(session, "kota-palembang", "Kota Palembang", "kota", None, now)
        await add_opd(session, "dishub", "Dinas Perhubungan", "dinas", "kota-palembang", now)
        await add_opd(session, "bpkad", "BPKAD", "badan", "kota-palembang", now)


class JwksServer:
    """A tiny app publishing whatever JWK Set the test gives it, counting fetches."""

    def __init__(self, jwks: Callable[[], dict[str, Any]]) -> None:
        self.jwks = jwks
        self.fetches = 0
        self.app = Starlette(routes=[Route("/jwks", self._serve)])

    async def _serve(self, _request: Request) -> Response:
        self.fetches += 1
        return Response(json.dumps(self.jwks()), media_type="application/jwk-set+json")


def protected_asgi_app(verifier: AssertionVerifier) -> Any:
    """An OPD app (starlette) behind the two-line integration; it echoes who the hub says is calling."""

    async def whoami(request: Request) -> Response:
        identity = request.state.gerbang
        return JSONResponse({"sub": identity.sub, "opd": identity.opd, "roles": list(identity.roles)})

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": websocket.state.gerbang.sub})
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", live), Route("/{path:path}", whoami)])
    return GerbangAssertionMiddleware(app, verifier)


def protected_wsgi_app(verifier: AssertionVerifier) -> Any:
    """An OPD app written for WSGI (Flask/Django style) behind the two-line integration."""

    def whoami(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        identity = environ["gerbang.identity"]
        body = json.dumps({"sub": identity.sub, "opd": identity.opd, "roles": list(identity.roles)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return GerbangAssertionWSGIMiddleware(whoami, verifier)


def open_asgi_app() -> Any:
    """An OPD app that forgot the middleware: reachable around the hub."""

    async def hello(_request: Request) -> Response:
        return JSONResponse({"hello": "anyone"})

    return Starlette(routes=[Route("/{path:path}", hello)])


@contextmanager
def run_wsgi_server(app: Any) -> Iterator[str]:
    """A real WSGI server (wsgiref) in a thread on a loopback port; yields its base URL."""

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
