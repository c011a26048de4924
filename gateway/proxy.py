"""The last step: forward an ``Exchange`` upstream with aiohttp and stream the answer back.

One shared ``ClientSession`` with a pooled keep-alive connector; bodies stream both ways
(flow control on both sides keeps memory flat); redirects are never followed and content
is never decompressed, so the client sees exactly what the upstream said. Timeouts: connect
and idle read from aiohttp; ``upstream_total_timeout`` bounds the wait for the response
head, restarted whenever the upstream takes a piece of the request body (a long upload is
not cut off for being long; a long stream such as MJPEG runs as long as bytes keep coming
within the idle read timeout).
Failures: connection errors 502, timeouts 504, every circuit open 503. Only GET, HEAD and
OPTIONS without a body are retried, on another target, and only when the request cannot
have reached the application (connect failure, or a pooled connection closed under us).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from starlette.types import Receive, Send
from yarl import URL

from gateway.app_responses import AppResponseGuard
from gateway.errors import BadGateway, GatewayError, GatewayTimeout
from gateway.exchange import ClientGone, Exchange, RequestBody
from gateway.headers import build_response_headers
from gateway.integrity.observer import HeldResponse
from gateway.metrics import GatewayMetrics
from gateway.settings import Settings
from idp.upstream_addresses import build_upstream_addresses
from gateway.upstreams import CLOSED, Target, TargetPool, Upstreams

log = logging.getLogger("gerbang.gateway.proxy")

RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# aiohttp adds these unless told not to; the upstream should see what the client sent.
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class UpstreamFailure(Exception):
    def __init__(self, error: GatewayError, kind: str, retryable: bool) -> None:
        super().__init__(kind)
        self.error, self.kind, self.retryable = error, kind, retryable


def build_session(settings: Settings) -> aiohttp.ClientSession:
    # The socket factory sees every resolved address just before connecting: a name that now resolves to a
    # refused address (DNS rebinding) is not connected to (idp.upstream_addresses).
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=settings.upstream_connections_per_host,
                                     keepalive_timeout=settings.upstream_keepalive_seconds, ttl_dns_cache=60,
                                     socket_factory=build_upstream_addresses(settings).socket_factory)
    timeout = aiohttp.ClientTimeout(total=None, connect=settings.upstream_connect_timeout,
                                    sock_read=settings.upstream_read_timeout)
    # A dummy cookie jar: one session serves every user; cookies must never cross between them.
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                 cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=SKIP_AUTO_HEADERS)


class Proxy:
    def __init__(self, settings: Settings, upstreams: Upstreams, metrics: GatewayMetrics) -> None:
        self.settings, self.upstreams, self.metrics = settings, upstreams, metrics
        self.responses = AppResponseGuard(settings.issuer, settings.apps_domain, settings.uses_tls,
                                          metrics.response_header_dropped)
        self.session: aiohttp.ClientSession | None = None
        self.total_timeout = settings.upstream_total_timeout

    async def start(self) -> None:
        if self.session is None:
            self.session = build_session(self.settings)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def forward(self, exchange: Exchange, receive: Receive, send: Send) -> int:
        """Forward and stream the response; returns the status sent. Raises ``GatewayError`` before a response.

        The request is counted in the metrics when the response head is sent (a stream may last hours).
        """
        pool = self.upstreams.pool(exchange.route.slug, exchange.route.upstreams)
        body = (RequestBody(receive, self.settings.max_body_bytes, self.settings.request_read_timeout,
                            exchange.content_length) if exchange.has_body else None)
        if body is not None:
            body.observer = exchange.observer
        attempts = 1 + (self.settings.upstream_retries
                        if body is None and exchange.head.method in RETRYABLE_METHODS else 0)
        target: Target | None = None
        last: UpstreamFailure | None = None
        for _attempt in range(attempts):
            try:
                target = pool.choose(exclude=target)
            except GatewayError:
                if last is not None:  # no other target to retry on: answer the first failure
                    raise last.error from None
                raise
            try:
                response = await self._request(target, exchange, body)
            except UpstreamFailure as failure:
                if body is not None and body.error is not None:  # the client's fault, not the upstream's
                    raise _body_error(body) from None
                self._failed(pool, target, failure.kind)
                if not failure.retryable:
                    raise failure.error from None
                last = failure
                continue
            self._succeeded(pool, target)
            return await self._stream(exchange, response, body, receive, send)
        assert last is not None
        raise last.error

    async def _request(self, target: Target, exchange: Exchange, body: RequestBody | None) -> aiohttp.ClientResponse:
        head = exchange.head
        url = target.base + exchange.upstream_path
        if head.query:
            url += "?" + head.query.decode("latin-1")
        assert self.session is not None, "Proxy.start() runs in the lifespan"
        loop = asyncio.get_running_loop()
        try:
            # The total deadline restarts whenever the upstream takes a piece of the body: a long upload is not
            # cut off for being long, but an upstream that stops reading it, or then never answers, times out.
            async with asyncio.timeout(self.total_timeout) as deadline:
                if body is not None:
                    body.on_progress = lambda: deadline.reschedule(loop.time() + self.total_timeout)
                return await self.session.request(
                    head.method, URL(url, encoded=True), headers=exchange.upstream_headers,
                    data=body.chunks() if body is not None else None, allow_redirects=False)
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamFailure(BadGateway("the app's service could not be reached", log_detail=repr(exc)),
                                  "connect", True) from None
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamFailure(GatewayTimeout("the app's service did not answer in time",
                                                 log_detail=f"connect timeout {exc!r}"), "timeout", True) from None
        except TimeoutError as exc:
            raise UpstreamFailure(GatewayTimeout("the app's service did not answer in time",
                                                 log_detail=f"timeout {exc!r}"), "timeout", False) from None
        except aiohttp.ServerDisconnectedError as exc:
            # Typically a pooled keep-alive connection the upstream had already closed.
            raise UpstreamFailure(BadGateway("the app's service closed the connection", log_detail=repr(exc)),
                                  "disconnected", True) from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailure(BadGateway("the app's service answered incorrectly", log_detail=repr(exc)),
                                  "protocol", False) from None

    async def _stream(self, exchange: Exchange, response: aiohttp.ClientResponse, body: RequestBody | None,
                      receive: Receive, send: Send) -> int:
        """Send the upstream's response as it arrives; a long response stops when the client leaves."""
        watcher: asyncio.Task[Any] | None = None
        if exchange.observer is not None and exchange.observer.keeps_receipts:
            send = HeldResponse(exchange.observer, send, self.settings.ledger_hold_bytes)
        try:
            headers = self.responses.filter(exchange.route.slug, build_response_headers(response.raw_headers,
                                                                                        exchange.response_headers))
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            self.metrics.observe(exchange.route.slug, response.status, time.perf_counter() - exchange.started)
            content = response.content
            while True:
                chunk = await content.readany()
                # Most answers arrive whole: mark the last chunk as last instead of sending an empty one.
                last = not chunk or content.at_eof()
                if watcher is not None and watcher.done():
                    return response.status  # the client left; uvicorn has dropped the connection
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                if last:
                    break
                if watcher is None and (body is None or body.finished):
                    watcher = asyncio.ensure_future(_close_on_disconnect(receive, response))
        except (aiohttp.ClientError, TimeoutError) as exc:
            if watcher is None or not watcher.done():
                self.metrics.upstream_error(exchange.route.slug, "stream")
                log.warning("upstream stream broke request_id=%s app=%s: %r", exchange.head.request_id,
                            exchange.route.slug, exc)
            # Leaving the response incomplete makes uvicorn close the connection: the client sees a truncation.
        finally:
            if watcher is not None:
                watcher.cancel()
            response.release()
        return response.status

    def _succeeded(self, pool: TargetPool, target: Target) -> None:
        breaker = target.breaker
        if breaker.failures or breaker.state is not CLOSED or target.down_until:
            pool.record_success(target)
            self.metrics.circuit_state(pool.slug, target.base, breaker.state)

    def _failed(self, pool: TargetPool, target: Target, kind: str) -> None:
        pool.record_failure(target)
        self.metrics.upstream_error(pool.slug, kind)
        self.metrics.circuit_state(pool.slug, target.base, target.breaker.state)


def _body_error(body: RequestBody) -> GatewayError:
    if isinstance(body.error, ClientGone):
        return ClientDisconnected()
    assert body.error is not None
    return body.error


class ClientDisconnected(GatewayError):
    """The client left mid-body; nothing can be answered (the pipeline only logs it)."""

    status, title, type_slug = 499, "Client Closed Request", "client-closed"


async def _close_on_disconnect(receive: Receive, response: aiohttp.ClientResponse) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    response.close()
