"""The request path, top to bottom: head → route → authenticate → decide → rate limit → proxy.

``serve`` is the whole path for one HTTP request to an app, whichever front reads it: the app plane's own
protocol-level cycle (``gateway.app_plane``, the production path) or ASGI (``handle_request``: WebSocket
handshakes, and any request when the server is not the gateway's own protocol). Both read the head with
``gateway.request_head.read_head``, run the same ``run_steps`` and forward with ``gateway.proxy`` through a
``Conversation``. Every step is injected through ``Pipeline`` (the step protocols of ``gateway.steps``); every
refusal is a ``GatewayError`` answered as ``application/problem+json`` (``gateway.problem``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from starlette.types import Receive, Scope, Send

from gateway.access_log import note_principal, note_route
from gateway.access_recorder import AccessRecorder
from gateway.errors import (
    Forbidden,
    GatewayError,
    LoginRedirect,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
)
from gateway.exchange import AsgiConversation, Conversation, Exchange
from gateway.headers import build_request_id, build_traceparent, build_upstream_headers
from gateway.identity_headers import build_forwarding_headers
from gateway.integrity.observer import IntegrityObserver, IntegrityPlane
from gateway.metrics import GatewayMetrics
from gateway.model import Decision, RequestHead, Route, Verdict
from gateway.paths import build_policy_path, check_app_path
from gateway.problem import send_websocket_denial
from gateway.proxy import ClientDisconnected, Proxy
from gateway.ratelimit.headers import build_rejection
from gateway.request_head import InboundRequest, read_request_head
from gateway.steps import AssertionIssuer, Authenticator, Decider, Limiter, RouteTable
from gateway.websocket import WebSocketProxy
from gateway.websocket_origin import check_websocket_origin
from idp.client_address import Headers, Network

log = logging.getLogger("gerbang.gateway")

# Errors after which the rest of the request cannot be trusted to be framed as the client meant.
_CLOSE_AFTER = frozenset({400, 408, 413, 431})


@dataclass(slots=True)
class Pipeline:
    routes: RouteTable
    authenticator: Authenticator
    decider: Decider
    limiter: Limiter
    assertions: AssertionIssuer
    proxy: Proxy
    websockets: WebSocketProxy
    metrics: GatewayMetrics
    max_header_bytes: int
    max_body_bytes: int
    trusted_proxies: tuple[Network, ...]
    hidden_cookies: Container[str] = frozenset()  # the hub's own cookies, never forwarded to an app
    accesses: AccessRecorder | None = None  # the access history: which app received whose identity
    hub_origin: str = ""  # the issuer's origin: its scheme and port are every app origin's
    public_port: str = ""  # ":8000" when the issuer names a port: every app origin shares it
    integrity: IntegrityPlane | None = None  # signed requests and receipts (gateway.integrity)


async def handle_request(pipeline: Pipeline, scope: Scope, receive: Receive, send: Send) -> None:
    """One request to an app reaching the ASGI application (a WebSocket handshake, or any request when the
    server is not the app plane's own: ``gateway.app_plane``)."""
    started = time.perf_counter()
    headers = scope["headers"]
    if scope["type"] == "http":
        await serve(
            pipeline,
            AsgiConversation(receive, send),
            headers,
            started,
            lambda request_id: read_request_head(
                scope,
                request_id,
                build_traceparent(headers, request_id),
                pipeline.max_header_bytes,
                pipeline.trusted_proxies,
            ),
        )
        return
    request_id = build_request_id(headers)
    app = "-"
    try:
        await receive()  # websocket.connect: the handshake is answered below, after the upstream's
        inbound = read_request_head(
            scope,
            request_id,
            build_traceparent(headers, request_id),
            pipeline.max_header_bytes,
            pipeline.trusted_proxies,
        )
        route, upstream_path = find_route(pipeline.routes, inbound.head)
        app = route.slug
        check_websocket_origin(route, inbound.head, pipeline.hub_origin)
        exchange = await run_steps(pipeline, inbound, route, upstream_path, started, websocket=True)
        await pipeline.websockets.forward(exchange, _subprotocols(scope), receive, send)
        return
    except GatewayError as error:
        status = error.status
        await send_websocket_denial(send, scope, error, request_id)
    except Exception:  # a failing step must still leave an answer and a log line with the request id
        status = 500
        log.exception("gateway step failed request_id=%s app=%s", request_id, app)
        with contextlib.suppress(RuntimeError):
            await send_websocket_denial(
                send, scope, GatewayError("the gateway could not handle this request"), request_id
            )
    pipeline.metrics.observe(app, status, time.perf_counter() - started)


class Front(Conversation, Protocol):
    """A ``Conversation`` that can also answer a refusal (problem+json) itself."""

    async def send_problem(self, error: GatewayError, request_id: str, *, close: bool) -> None: ...


async def serve(
    pipeline: Pipeline,
    front: Front,
    headers: Headers,
    started: float,
    read_head: Callable[[str], InboundRequest],
    route: Route | None = None,
    upstream_path: str = "",
) -> None:
    """One HTTP request to an app, from its head to the last byte of the upstream's answer."""
    request_id = build_request_id(headers)
    app = route.slug if route is not None else "-"
    try:
        inbound = read_head(request_id)
        check_body_size(inbound, pipeline.max_body_bytes)
        if route is None:
            route, upstream_path = find_route(pipeline.routes, inbound.head)
            app = route.slug
        exchange = await run_steps(pipeline, inbound, route, upstream_path, started)
        if exchange.integrity is not None:  # its body digest and, for a ledger app, the held response
            front = await exchange.integrity.attach(front)
            try:
                await pipeline.proxy.forward(exchange, front)
            finally:
                exchange.integrity.done()
            return
        await pipeline.proxy.forward(exchange, front)
        return  # forwarded: the proxy counted the request when it sent the response head
    except ClientDisconnected:
        status = ClientDisconnected.status
        log.info("client left mid-request request_id=%s app=%s", request_id, app)
    except GatewayError as error:
        status = error.status
        await front.send_problem(error, request_id, close=status in _CLOSE_AFTER or _declares_body(headers))
    except Exception:  # a failing step must still leave a problem+json and a log line with the request id
        status = 500
        log.exception("gateway step failed request_id=%s app=%s", request_id, app)
        # The response may already have started (a failure mid-stream): then the connection is cut.
        try:
            await front.send_problem(GatewayError("the gateway could not handle this request"), request_id, close=True)
        except RuntimeError:
            front.abort()
    pipeline.metrics.observe(app, status, time.perf_counter() - started)


async def run_steps(
    pipeline: Pipeline,
    inbound: InboundRequest,
    route: Route,
    upstream_path: str,
    started: float,
    *,
    websocket: bool = False,
) -> Exchange:
    """The checks between the head and the proxy: path, status, authenticate, decide, rate limit, assertion."""
    note_route(route.slug)
    check_app_path(upstream_path, allow_ambiguous=route.allow_ambiguous_paths)
    check_route_active(route)
    head = inbound.head
    principal = await pipeline.authenticator.authenticate(route, head)
    note_principal(principal)
    # The policies see exactly the path the upstream will receive (read as its server reads it).
    policy_path = build_policy_path(upstream_path, allow_ambiguous=route.allow_ambiguous_paths)
    check_decision(pipeline.decider.decide(principal, route, head, policy_path), route, head)
    verdict = await pipeline.limiter.check(principal, route, head)
    check_verdict(verdict)
    assertion = pipeline.assertions.issue(principal, route, head)
    integrity = None
    if pipeline.integrity is not None:
        integrity = pipeline.integrity.begin(
            route, principal, head, inbound.content_length, inbound.chunked, assertion, websocket=websocket
        )
    if pipeline.accesses is not None:
        pipeline.accesses.record(principal, route, assertion.claim_names)
    return build_exchange(
        inbound,
        route,
        upstream_path,
        assertion,
        verdict,
        started,
        websocket=websocket,
        hidden_cookies=pipeline.hidden_cookies,
        public_port=pipeline.public_port,
        integrity=integrity,
    )


def check_body_size(inbound: InboundRequest, limit: int) -> None:
    """A declared body over the limit is refused before anything else; a chunked one is counted while streaming."""
    if inbound.content_length is not None and inbound.content_length > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")


def find_route(routes: RouteTable, head: RequestHead) -> tuple[Route, str]:
    found = routes.lookup(head.host, head.path)
    if found is None:
        raise NotFound("no app is served at this host name", log_detail=f"host {head.host} path {head.path}")
    return found


def check_route_active(route: Route) -> None:
    if route.status != "active":
        raise ServiceUnavailable("this app is suspended", log_detail=f"app {route.slug} status {route.status}")


def check_decision(decision: Decision, route: Route, head: RequestHead) -> None:
    if decision.allowed:
        return
    detail = f"rules {','.join(decision.rule_ids)}: {decision.reason}"
    if decision.required_acr and route.auth_mode == "session":  # step up in the browser, then come back
        target = head.path + ("?" + head.query.decode("latin-1") if head.query else "")
        raise LoginRedirect(f"/.gerbang/login?{urlencode({'acr': decision.required_acr, 'return_to': target})}")
    if decision.required_acr:  # RFC 9470 §3: step-up authentication
        challenge = (
            f'Bearer error="insufficient_user_authentication", '
            f'error_description="a stronger sign-in is required", acr_values="{decision.required_acr}"'
        )
        raise Unauthenticated(
            "a stronger sign-in is required", headers=((b"www-authenticate", challenge.encode()),), log_detail=detail
        )
    raise Forbidden("the city's access policy does not allow this request", log_detail=detail)


def check_verdict(verdict: Verdict) -> None:
    if not verdict.allowed:
        raise build_rejection(verdict)


def build_exchange(
    inbound: InboundRequest,
    route: Route,
    upstream_path: str,
    assertion: str,
    verdict: Verdict,
    started: float,
    *,
    websocket: bool = False,
    hidden_cookies: Container[str] = frozenset(),
    public_port: str = "",
    integrity: IntegrityObserver | None = None,
) -> Exchange:
    head = inbound.head
    added = build_forwarding_headers(inbound, route, assertion, public_port=public_port)
    if inbound.content_length is not None:
        added.append(("content-length", str(inbound.content_length)))
    upstream_headers = build_upstream_headers(head.headers, added, websocket=websocket, hidden_cookies=hidden_cookies)
    response_headers = ((b"x-request-id", head.request_id.encode()), *verdict.headers)
    return Exchange(
        head,
        route,
        upstream_path,
        upstream_headers,
        response_headers,
        inbound.content_length,
        inbound.chunked,
        started,
        integrity,
    )


def _subprotocols(scope: Scope) -> tuple[str, ...]:
    return tuple(scope.get("subprotocols") or ())


def _declares_body(headers: Headers) -> bool:
    for name, value in headers:
        if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            return True
    return False
