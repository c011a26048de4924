"""``create_app(settings)``: the hub and every app's origin as one raw ASGI application, dispatched by Host.

    Host = an app's host ({slug}.{apps_domain} or registered)
        /.gerbang/*                                   → the gateway's sign-in for session apps, on the app's host
        everything else                               → gateway.pipeline, the whole path forwarded: served
                                                        by gateway.app_plane below ASGI when the server is
                                                        gateway.server_protocol (``gerbang serve``), else
                                                        as raw ASGI (no starlette routing on the hot path)
    Host = the hub's (the issuer's host)
        /healthz /readyz /metrics                     → gateway.operations
        /apps/{slug}/...                              → moved: 308 to the app's own origin (never proxied)
        /admin/*                                      → Kominfo's admin API (gateway.admin)
        everything else                               → the provider (idp.app), sharing one IdpContext
    any other Host                                    → 404 problem (400 when malformed)

Hub responses pass through ``idp.hub_origin.HubOriginGuard`` (``__Host-`` cookies and HSTS under TLS).

The lifespan starts the shared context, the provider's own lifespan and the upstream
HTTP client, and stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.access_log import AccessLog
from gateway.access_recorder import AccessRecorder
from gateway.access_writer import AccessWriter
from gateway.admin.console_client import ensure_console_client
from gateway.app_plane import AppPlane
from gateway.app_responses import HUB_COOKIE_NAMES
from gateway.error_pages import HtmlErrors
from gateway.errors import GatewayError
from gateway.health_probe import build_health_probe
from gateway.identity import build_identity
from gateway.integrity.ledger_routes import PREFIX as LEDGER_PREFIX
from gateway.integrity.ledger_routes import ReceiptEndpoint
from gateway.integrity.ledger_writer import LedgerWriter
from gateway.integrity.observer import IntegrityPlane
from gateway.integrity.signer import RequestSigner
from gateway.metrics import GatewayMetrics
from gateway.model import Route
from gateway.operations import Operations
from gateway.origins import OLD_APPS_PREFIX, Origins, refuse
from gateway.pipeline import Pipeline, handle_request
from gateway.policy_step import PolicyDecider, PolicyReloader
from gateway.proxy import Proxy
from gateway.ratelimit.limiter import PolicyLimiter
from gateway.ratelimit.store import describe_limit_store
from gateway.registry import AppRegistry
from gateway.revocations import RevokedTokens
from gateway.server_protocol import REQUEST_LINE_ALLOWANCE, ServerLimits
from gateway.session_auth import SessionAuthenticator
from gateway.session_client import GatewayClientSync, ensure_gateway_client
from gateway.settings import Settings
from gateway.steps import AssertionIssuer, Authenticator, Decider, Limiter, RouteTable
from gateway.traffic_store import TrafficFlusher
from gateway.upstreams import BreakerPolicy, Upstreams
from gateway.websocket import WebSocketProxy
from idp.app import create_app as create_idp_app
from idp.app_origins import port_suffix
from idp.client_address import build_networks
from idp.clock import Clock
from idp.context import IdpContext, build_context
from idp.hub_origin import HubOriginGuard
from idp.logging import configure_logging
from idp.pdp.jobs import PdpJobs, Retention
from idp.provider import Provider
from idp.upstream_addresses import build_upstream_addresses

log = logging.getLogger("gerbang.gateway")

CONTROL_PREFIX = "/.gerbang/"
ADMIN_PREFIX = "/admin/"
Hook = Callable[[], Awaitable[None]]


class LazyAdmin:
    """Kominfo's admin API and console (``gateway.admin.api``), built on the first ``/admin/`` request: its
    modules, its pydantic bodies and its templates (jinja2) cost every worker ~7 MiB resident memory, and most
    workers of a hub never serve the console. Building it reads only settings already checked at start
    (``build_upstream_addresses``, by the pipeline) and does no I/O, so nothing fails later than it did."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def app(self) -> ASGIApp:
        if self._app is None:  # one event loop per worker: no other request can build it meanwhile
            self._app = self._build()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _build_admin(settings: Settings, context: IdpContext, verifier: Any, provider: Provider) -> ASGIApp:
    from gateway.admin.api import build_admin_app

    return build_admin_app(settings, context, verifier, provider.clients.forget, provider)


class GatewayApp:
    """The dispatcher. ``on_startup``/``on_shutdown`` take extra async hooks (registry refresh, Redis...)."""

    pdp_jobs: PdpJobs  # set by create_app (tests run it by hand)
    ledger: LedgerWriter  # set by create_app (tests look at its batches)

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        provider: Starlette,
        context: IdpContext,
        operations: Operations,
        control: Starlette,
        admin: ASGIApp | None = None,
    ) -> None:
        self.pipeline, self.provider, self.context, self.operations = pipeline, provider, context, operations
        self.control = control  # the gateway's own pages on an app's host: /.gerbang/* (session apps' sign-in)
        self.admin = admin  # Kominfo's admin API and console: /admin/*
        self.receipts: ASGIApp | None = None  # GET /ledger/receipts/{request_id} (gateway.integrity.ledger_routes)
        # The hub's own host name is never an app's: a registration claiming it must not take over the provider.
        self.origins = Origins(settings.issuer, pipeline.routes)
        self.hub_host = self.origins.hub_host
        self.hub_guard = HubOriginGuard(self._hub, settings.uses_tls)
        self.server_limits = ServerLimits(
            settings.request_head_timeout,
            settings.max_header_bytes + REQUEST_LINE_ALLOWANCE,
            settings.max_header_bytes,
            settings.request_body_timeout,
            settings.request_body_min_rate,
        )
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        # One JSON line per request (gateway.access_log); None when GERBANG_ACCESS_LOG is off.
        self.access_log = AccessLog(settings.access_log_sample) if settings.access_log else None
        # App hosts' requests at the protocol level, when served by gateway.server_protocol (one listener).
        self.app_plane = AppPlane(pipeline, self.origins, self.access_log)
        # A browser's navigation gets error pages in Bahasa Indonesia instead of problem+json (gateway.error_pages).
        self._pages = HtmlErrors(self._dispatch)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.access_log is not None and scope["type"] in ("http", "websocket"):
            await self.access_log.handle(scope, receive, send, self._pages)
        else:
            await self._pages(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            try:
                origin = self.origins.find(scope)
            except GatewayError as error:  # neither the hub nor an app: counted, never routed
                await refuse(scope, send, error)
                self.pipeline.metrics.observe("-", error.status, 0.0)
                return
            if origin.route is None:
                await _unless_client_left(self.hub_guard, scope, receive, send)
            elif scope["path"].startswith(CONTROL_PREFIX) and kind == "http" and _signs_in(origin.route):
                scope["gerbang.route"] = origin.route
                await _unless_client_left(self.control, scope, receive, send)
            else:
                await handle_request(self.pipeline, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _hub(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http" and path in self.operations.paths:
            await self.operations.handle(scope, send)
        elif path.startswith(OLD_APPS_PREFIX):
            await self.origins.answer_old_address(scope, send)
        elif path.startswith(LEDGER_PREFIX) and scope["type"] == "http" and self.receipts is not None:
            await self.receipts(scope, receive, send)
        elif path.startswith(ADMIN_PREFIX) and self.admin is not None:
            await self.admin(scope, receive, send)
        else:
            await self.provider(scope, receive, send)

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
                await self.pipeline.websockets.start()
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
                    await self.pipeline.websockets.close()
                    await self.pipeline.proxy.close()
        finally:
            await self.context.close()


async def _unless_client_left(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The hub's and the sign-in pages' starlette apps read bodies through ``Request``: a client that left (or was
    cut off as too slow, ``gateway.server_protocol``) mid-body leaves nobody to answer."""
    try:
        await app(scope, receive, send)
    except ClientDisconnect:
        log.info("client left mid-request path=%s", scope["path"][:200])


def _signs_in(route: Route) -> bool:
    """The gateway's own sign-in pages exist on the hosts of active ``session`` apps only."""
    return route.auth_mode == "session" and route.status == "active"


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    routes: RouteTable | None = None,
    authenticator: Authenticator | None = None,
    decider: Decider | None = None,
    limiter: Limiter | None = None,
    assertions: AssertionIssuer | None = None,
    context: IdpContext | None = None,
) -> GatewayApp:
    """The hub. Steps not given are the production ones built from ``settings`` (tests inject others)."""
    context = context or build_context(settings, clock)
    provider_app = create_idp_app(settings, context=context)
    provider: Provider = provider_app.state.provider
    sessions = SessionAuthenticator(
        context.sessionmaker,
        context.keys,
        settings.issuer,
        settings.effective_secret,
        context.clock,
        settings.uses_tls,
        settings.session_ttl,
    )
    provider.logout_listeners.append(sessions.end_for_idp_session)
    revoked = RevokedTokens(context.sessionmaker, context.clock, settings.registry_refresh_seconds)
    identity = build_identity(settings, context, sessions=sessions, is_revoked=revoked.is_revoked)
    issuer = identity.assertions  # an ended session's assertions are not reused

    async def forget_assertions(row: Any) -> None:
        issuer.forget_session(row.sid)

    provider.logout_listeners.append(forget_assertions)
    metrics = GatewayMetrics()
    accesses = AccessRecorder(
        context.clock,
        window=settings.access_history_window_seconds,
        max_pending=settings.access_history_max_pending,
        dropped=metrics.access_history_dropped,
    )
    access_writer = AccessWriter(
        accesses,
        context.sessionmaker,
        context.clock,
        interval=settings.access_history_flush_seconds,
        retention_days=settings.access_history_retention_days,
    )
    ledger = LedgerWriter(
        context.sessionmaker,
        context.keys.sign,
        context.clock,
        issuer=settings.issuer,
        max_batch=settings.ledger_max_batch,
        linger=settings.ledger_linger_seconds,
    )
    integrity = IntegrityPlane(
        RequestSigner(lambda: context.keys.message_key, context.clock, settings.message_signature_ttl),
        ledger,
        buffer_bytes=settings.integrity_buffer_bytes,
        read_timeout=settings.request_read_timeout,
        hold_bytes=settings.ledger_hold_bytes,
        limits_ok=lambda: not describe_limit_store(context.limits)["degraded"],
    )
    upstreams = Upstreams(
        BreakerPolicy(
            settings.breaker_failure_threshold, settings.breaker_reset_seconds, settings.upstream_cooloff_seconds
        )
    )
    pipeline = Pipeline(
        routes=routes or identity.routes,
        authenticator=authenticator or identity.authenticator,
        decider=decider or PolicyDecider(context.policies),
        limiter=limiter or PolicyLimiter(context.policies, context.limits),
        assertions=assertions or identity.assertions,
        proxy=Proxy(settings, upstreams, metrics),
        websockets=WebSocketProxy(
            upstreams,
            metrics,
            settings.upstream_connect_timeout,
            settings.websocket_max_message_bytes,
            build_upstream_addresses(settings).socket_factory,
        ),
        metrics=metrics,
        max_header_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes,
        trusted_proxies=build_networks(settings.trusted_proxies),
        hidden_cookies=HUB_COOKIE_NAMES,
        accesses=accesses,
        hub_origin=settings.issuer,
        public_port=port_suffix(settings.issuer),
        integrity=integrity,
    )
    operations = Operations(context, metrics, pipeline.trusted_proxies, build_networks(settings.metrics_networks))
    control = Starlette(routes=sessions.routes())
    admin = LazyAdmin(lambda: _build_admin(settings, context, identity.verifier, provider))
    app = GatewayApp(settings, pipeline, provider_app, context, operations, control, admin)
    app.receipts = ReceiptEndpoint(
        context.sessionmaker,
        identity.verifier,
        pipeline.routes.find_slug,
    )
    app.ledger = ledger  # tests look at its batches

    sync_gateway_client = GatewayClientSync(
        context.sessionmaker, settings.issuer, context.clock, provider.clients.forget
    )
    if isinstance(pipeline.routes, AppRegistry):  # every reload of the route table: the session apps' callbacks
        pipeline.routes.on_load.append(sync_gateway_client)

    async def provision() -> None:
        async with context.sessionmaker() as session, session.begin():
            await ensure_gateway_client(session, settings.issuer, settings.effective_secret, context.clock.now())
            await ensure_console_client(session, settings.issuer, settings.effective_secret, context.clock.now())
        if not isinstance(pipeline.routes, AppRegistry):  # routes given as data (tests)
            await sync_gateway_client(tuple(getattr(pipeline.routes, "by_slug", {}).values()))

    reloader = PolicyReloader(context.policies, settings.policy_reload_seconds)
    operations.add_check("policies", reloader.check, critical=False)

    async def limits_check() -> str | None:
        state = describe_limit_store(context.limits)
        return f"rate limits degraded to local limits: {state.get('last_error')}" if state["degraded"] else None

    operations.add_check("ratelimit", limits_check, critical=False)
    pdp_jobs = PdpJobs(
        context.sessionmaker,
        context.clock,
        Retention(
            settings.access_history_retention_days,
            settings.security_event_retention_days,
            settings.inactive_account_retention_days,
        ),
        every=settings.pdp_job_seconds,
    )
    app.pdp_jobs = pdp_jobs
    traffic = TrafficFlusher(metrics.traffic, context.sessionmaker, context.clock, settings.traffic_flush_seconds)
    health = build_health_probe(context.engine, context.limits, metrics.registry, settings.health_probe_seconds)
    flusher: list[asyncio.Task[None]] = []

    async def start_metrics() -> None:
        flusher.append(asyncio.ensure_future(metrics.flush_forever()))

    async def stop_metrics() -> None:
        for task in flusher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_startup.extend(
        [
            start_metrics,
            provision,
            ledger.start,
            revoked.start,
            reloader.start,
            access_writer.start,
            traffic.start,
            health.start,
            pdp_jobs.start,
        ]
    )
    # run in reverse: the probe, then the flushers (traffic, accesses) while the database is still there
    app.on_shutdown.extend(
        [
            stop_metrics,
            ledger.stop,
            revoked.stop,
            reloader.stop,
            access_writer.stop,
            traffic.stop,
            health.stop,
            pdp_jobs.stop,
        ]
    )
    if routes is None:
        app.on_startup.append(identity.start)
        app.on_shutdown.append(identity.stop)
    return app


def app_from_environment() -> GatewayApp:
    """The factory ``gerbang serve`` hands to uvicorn (once per worker): settings, structured logs, the hub."""
    settings = Settings()
    configure_logging(settings.log_json, settings.log_level)
    return create_app(settings)
