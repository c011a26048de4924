"""``create_app(settings)``: the hub as one raw ASGI application on one origin.

    /apps/{slug}/...  and hosts the route table knows  → gateway.pipeline (raw ASGI: no
                                                          starlette routing on the hot path)
    /healthz /readyz /metrics                         → gateway.operations
    /gateway/*                                        → the gateway's sign-in pages for session apps
    /admin/*                                          → Kominfo's admin API (gateway.admin)
    everything else                                   → the provider (idp.app), sharing one IdpContext

The lifespan starts the shared context, the provider's own lifespan and the upstream
HTTP client, and stops them in reverse order.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from gateway.access_recorder import AccessRecorder
from gateway.access_writer import AccessWriter
from gateway.admin.api import build_admin_app
from gateway.admin.console_client import ensure_console_client
from gateway.identity import build_identity
from gateway.revocations import RevokedTokens
from gateway.session_auth import SessionAuthenticator, ensure_gateway_client
from gateway.errors import GatewayError
from gateway.headers import build_networks
from gateway.health_probe import build_health_probe
from gateway.metrics import GatewayMetrics
from gateway.operations import Operations
from gateway.pipeline import Pipeline, handle_request
from gateway.policy_step import PolicyDecider, PolicyReloader
from gateway.ratelimit.limiter import PolicyLimiter
from gateway.ratelimit.store import describe_limit_store
from gateway.proxy import Proxy
from gateway.request_head import build_host
from gateway.server_protocol import REQUEST_LINE_ALLOWANCE, ServerLimits
from gateway.settings import Settings
from gateway.traffic_store import TrafficFlusher
from gateway.access_log import AccessLog
from gateway.steps import AssertionIssuer, Authenticator, Decider, Limiter, RouteTable
from gateway.upstreams import BreakerPolicy, Upstreams
from gateway.websocket import WebSocketProxy
from idp.app import create_app as create_idp_app
from idp.clock import Clock
from idp.context import IdpContext, build_context
from idp.logging import configure_logging
from idp.provider import Provider

log = logging.getLogger("gerbang.gateway")

APPS_PREFIX = "/apps/"
CONTROL_PREFIX = "/gateway/"
ADMIN_PREFIX = "/admin/"
# The hub's own cookies: sessions, CSRF, sign-in flows. An OPD app never receives them.
HUB_COOKIES = frozenset({"gerbang_session", "__Host-gerbang_session", "gerbang_gw", "__Host-gerbang_gw",
                         "gerbang_csrf", "gerbang_interaction", "gerbang_gw_flow", "gerbang_lang",
                         "gerbang_console", "__Host-gerbang_console", "gerbang_console_flow"})
Hook = Callable[[], Awaitable[None]]


class GatewayApp:
    """The dispatcher. ``on_startup``/``on_shutdown`` take extra async hooks (registry refresh, Redis...)."""

    def __init__(self, settings: Settings, pipeline: Pipeline, provider: Starlette, context: IdpContext,
                 operations: Operations, control: Starlette, admin: Starlette | None = None) -> None:
        self.pipeline, self.provider, self.context, self.operations = pipeline, provider, context, operations
        self.control = control  # the gateway's own pages: /gateway/* (session apps' sign-in)
        self.admin = admin  # Kominfo's admin API and console: /admin/*
        # The hub's own host name is never an app's: a registration claiming it must not take over the provider.
        self.hub_host = build_host(urlsplit(settings.issuer).netloc.encode())
        self.server_limits = ServerLimits(settings.request_head_timeout,
                                          settings.max_header_bytes + REQUEST_LINE_ALLOWANCE)
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        # One JSON line per request (gateway.access_log); None when GERBANG_ACCESS_LOG is off.
        self.access_log = AccessLog(settings.access_log_sample) if settings.access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.access_log is not None and scope["type"] in ("http", "websocket"):
            await self.access_log.handle(scope, receive, send, self._dispatch)
        else:
            await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            path: str = scope["path"]
            if path.startswith(APPS_PREFIX) or self._is_app_host(scope, path):
                await handle_request(self.pipeline, scope, receive, send)
            elif kind == "http" and path in self.operations.paths:
                await self.operations.handle(scope, send)
            elif path.startswith(CONTROL_PREFIX):
                await self.control(scope, receive, send)
            elif path.startswith(ADMIN_PREFIX) and self.admin is not None:
                await self.admin(scope, receive, send)
            else:
                await self.provider(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def _is_app_host(self, scope: Scope, path: str) -> bool:
        for name, value in scope["headers"]:
            if name == b"host":
                try:
                    host = build_host(value)
                except GatewayError:  # an invalid Host is the provider's to refuse
                    return False
                return host != self.hub_host and self.pipeline.routes.lookup(host, path) is not None
        return False

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self._running())
            except Exception as exc:  # report, do not serve half-started
                log.exception("gateway startup failed")
                await send({"type": "lifespan.startup.failed", "message": f"startup failed: {exc}"})
                return
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        await self.context.start()
        try:
            async with self.provider.router.lifespan_context(self.provider):
                await self.pipeline.proxy.start()
                try:
                    for hook in self.on_startup:
                        await hook()
                    # Everything built at startup (modules, settings, compiled policies) lives as long as the
                    # process: move it out of the collector's generations so full collections stay short.
                    gc.freeze()
                    yield
                finally:
                    for hook in reversed(self.on_shutdown):
                        await hook()
                    await self.pipeline.proxy.close()
        finally:
            await self.context.close()


def create_app(settings: Settings, *, clock: Clock | None = None, routes: RouteTable | None = None,
               authenticator: Authenticator | None = None, decider: Decider | None = None,
               limiter: Limiter | None = None, assertions: AssertionIssuer | None = None,
               context: IdpContext | None = None) -> GatewayApp:
    """The hub. Steps not given are the production ones built from ``settings`` (tests inject others)."""
    context = context or build_context(settings, clock)
    provider_app = create_idp_app(settings, context=context)
    provider: Provider = provider_app.state.provider
    sessions = SessionAuthenticator(context.sessionmaker, context.keys, settings.issuer, settings.effective_secret,
                                    context.clock, settings.uses_tls, settings.session_ttl)
    provider.logout_listeners.append(sessions.end_for_idp_session)
    revoked = RevokedTokens(context.sessionmaker, context.clock, settings.registry_refresh_seconds)
    identity = build_identity(settings, context, sessions=sessions, is_revoked=revoked.is_revoked)
    metrics = GatewayMetrics()
    accesses = AccessRecorder(context.clock, window=settings.access_history_window_seconds,
                              max_pending=settings.access_history_max_pending,
                              dropped=metrics.access_history_dropped)
    access_writer = AccessWriter(accesses, context.sessionmaker, context.clock,
                                 interval=settings.access_history_flush_seconds,
                                 retention_days=settings.access_history_retention_days)
    upstreams = Upstreams(BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_reset_seconds,
                                        settings.upstream_cooloff_seconds))
    pipeline = Pipeline(
        routes=routes or identity.routes,
        authenticator=authenticator or identity.authenticator,
        decider=decider or PolicyDecider(context.policies),
        limiter=limiter or PolicyLimiter(context.policies, context.limits),
        assertions=assertions or identity.assertions,
        proxy=Proxy(settings, upstreams, metrics),
        websockets=WebSocketProxy(upstreams, metrics, settings.upstream_connect_timeout,
                                  settings.websocket_max_message_bytes),
        metrics=metrics,
        max_header_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes,
        trusted_proxies=build_networks(settings.trusted_proxies),
        hidden_cookies=HUB_COOKIES,
        accesses=accesses,
    )
    operations = Operations(context, metrics, pipeline.trusted_proxies, build_networks(settings.metrics_networks))
    control = Starlette(routes=sessions.routes())
    admin = build_admin_app(settings, context, identity.verifier, provider.clients.forget)
    app = GatewayApp(settings, pipeline, provider_app, context, operations, control, admin)

    async def provision() -> None:
        async with context.sessionmaker() as session, session.begin():
            await ensure_gateway_client(session, settings.issuer, settings.effective_secret, context.clock.now())
            await ensure_console_client(session, settings.issuer, settings.effective_secret, context.clock.now())

    reloader = PolicyReloader(context.policies, settings.policy_reload_seconds)
    operations.add_check("policies", reloader.check, critical=False)

    async def limits_check() -> str | None:
        state = describe_limit_store(context.limits)
        return f"rate limits degraded to local limits: {state.get('last_error')}" if state["degraded"] else None

    operations.add_check("ratelimit", limits_check, critical=False)
    traffic = TrafficFlusher(metrics.traffic, context.sessionmaker, context.clock, settings.traffic_flush_seconds)
    health = build_health_probe(context.engine, context.limits, metrics.registry, settings.health_probe_seconds)
    app.on_startup.extend([provision, revoked.start, reloader.start, access_writer.start, traffic.start, health.start])
    # run in reverse: the probe, then the flushers (traffic, accesses) while the database is still there
    app.on_shutdown.extend([revoked.stop, reloader.stop, access_writer.stop, traffic.stop, health.stop])
    if routes is None:
        app.on_startup.append(identity.start)
        app.on_shutdown.append(identity.stop)
    return app


def app_from_environment() -> GatewayApp:
    """The factory ``gerbang serve`` hands to uvicorn (once per worker): settings, structured logs, the hub."""
    settings = Settings()
    configure_logging(settings.log_json, settings.log_level)
    return create_app(settings)

