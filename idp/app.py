"""``create_app(settings)``: the provider as a starlette application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.clock import Clock
from idp.context import IdpContext, build_context
from idp.settings import Settings


def create_app(settings: Settings, clock: Clock | None = None, context: IdpContext | None = None) -> Starlette:
    """The provider alone. The gateway passes its shared ``context`` and mounts the routes."""
    ctx = context or build_context(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await ctx.start()
        try:
            yield
        finally:
            if context is None:
                await ctx.close()

    async def jwks(_request: Request) -> Response:
        return Response(ctx.keys.jwks_bytes(), media_type="application/jwk-set+json",
                        headers={"Cache-Control": "public, max-age=300"})

    app = Starlette(routes=[Route("/jwks", jwks)], lifespan=lifespan)
    app.state.idp = ctx
    return app
