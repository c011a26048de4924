"""``create_app(settings)``: the provider as a starlette application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.account_routes import build_account_routes
from idp.broker_routes import build_broker_routes
from idp.client_address import ClientAddress, build_networks
from idp.clock import Clock
from idp.context import IdpContext, build_context
from idp.endpoints.authorize import authorize_endpoint, resume_endpoint
from idp.endpoints.client_registration import manage_endpoint, register_endpoint
from idp.endpoints.consent import consent_page, consent_submit
from idp.endpoints.device import device_authorization_endpoint, device_page, device_submit
from idp.endpoints.discovery import build_metadata, metadata_endpoint
from idp.endpoints.login import login_page, login_submit
from idp.endpoints.logout import logout_endpoint
from idp.endpoints.par import par_endpoint
from idp.endpoints.token import token_endpoint
from idp.endpoints.token_admin import introspection_endpoint, revocation_endpoint
from idp.endpoints.userinfo import userinfo_endpoint
from idp.hub_origin import HubOriginGuard
from idp.login_throttle import ThrottleUnavailable
from idp.provider import Provider
from idp.scim_routes import build_scim_routes
from idp.settings import JWKS_MAX_AGE, Settings

log = logging.getLogger("gerbang.idp")


def build_routes(provider: Provider) -> list[BaseRoute]:
    metadata = metadata_endpoint(
        build_metadata(
            provider.issuer, provider.settings.signing_alg, provider.settings.require_pushed_authorization_requests
        )
    )

    async def jwks(_request: Request) -> Response:
        return Response(
            provider.keys.jwks_bytes(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}", "Access-Control-Allow-Origin": "*"},
        )

    return [
        Route("/.well-known/openid-configuration", metadata),
        Route("/.well-known/oauth-authorization-server", metadata),
        Route("/auth/jwks", jwks),
        Route("/auth/authorize", authorize_endpoint, methods=["GET", "POST"]),
        Route("/auth/authorize/resume", resume_endpoint),
        Route("/auth/token", token_endpoint, methods=["POST"]),
        Route("/auth/par", par_endpoint, methods=["POST"]),
        Route("/auth/device_authorization", device_authorization_endpoint, methods=["POST"]),
        Route("/auth/device", device_page, methods=["GET"]),
        Route("/auth/device", device_submit, methods=["POST"]),
        Route("/auth/userinfo", userinfo_endpoint, methods=["GET", "POST"]),
        Route("/auth/revoke", revocation_endpoint, methods=["POST"]),
        Route("/auth/introspect", introspection_endpoint, methods=["POST"]),
        Route("/auth/clients", register_endpoint, methods=["POST"]),
        Route("/auth/clients/{client_id}", manage_endpoint, methods=["GET", "PUT", "DELETE"]),
        Route("/auth/logout", logout_endpoint, methods=["GET", "POST"]),
        Route("/auth/login", login_page, methods=["GET"]),
        Route("/auth/login", login_submit, methods=["POST"]),
        Route("/auth/consent", consent_page, methods=["GET"]),
        Route("/auth/consent", consent_submit, methods=["POST"]),
        *build_account_routes(),
        *build_broker_routes(),
        *build_scim_routes(),
        Mount("/auth/static", StaticFiles(directory=Path(__file__).parent / "static")),
    ]


def create_app(settings: Settings, clock: Clock | None = None, context: IdpContext | None = None) -> Starlette:
    """The provider alone. The gateway passes its shared ``context`` and mounts the routes."""
    ctx = context or build_context(settings, clock)
    provider = Provider(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await ctx.start()
        try:
            yield
        finally:
            await provider.backchannel.drain()
            if context is None:
                await ctx.close()

    async def storage_down(request: Request, exc: Exception) -> Response:
        log.warning("storage unavailable: %s", exc)
        if request.url.path.startswith(
            ("/auth/token", "/auth/revoke", "/auth/introspect", "/auth/userinfo", "/auth/clients")
        ):
            return Response(
                '{"error":"temporarily_unavailable"}',
                503,
                media_type="application/json",
                headers={"Retry-After": "5", "Cache-Control": "no-store"},
            )
        return provider.pages.error(request, "error.unavailable", 503)

    async def limits_down(request: Request, exc: Exception) -> Response:
        retry = str(getattr(exc, "retry_after", 5))
        response = provider.pages.error(request, "error.unavailable", 503)
        response.headers["Retry-After"] = retry
        return response

    # asyncpg raises a bare ConnectionRefusedError (an OSError, not wrapped by SQLAlchemy) when the database
    # is down; an OSError escaping a handler otherwise only ever means a dependency could not be reached.
    app = Starlette(
        routes=build_routes(provider),
        lifespan=lifespan,
        exception_handlers={SQLAlchemyError: storage_down, OSError: storage_down, ThrottleUnavailable: limits_down},
        middleware=[
            Middleware(HubOriginGuard, tls=settings.uses_tls),
            Middleware(ClientAddress, networks=build_networks(settings.trusted_proxies)),
        ],
    )
    app.state.idp = ctx
    app.state.provider = provider
    return app
