"""A small city for gateway identity tests: OPD units, users, a key ring, a JWKS server and OPD upstreams."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.assertion import AssertionVerifier, GerbangAssertionMiddleware
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

    return GerbangAssertionMiddleware(Starlette(routes=[Route("/{path:path}", whoami)]), verifier)


def open_asgi_app() -> Any:
    """An OPD app that forgot the middleware: reachable around the hub."""

    async def hello(_request: Request) -> Response:
        return JSONResponse({"hello": "anyone"})

    return Starlette(routes=[Route("/{path:path}", hello)])
