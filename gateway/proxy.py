"""The last step: forward an ``Exchange`` upstream with the app plane's own client and stream the answer back.

The client is ``gateway.upstream_client`` (asyncio protocols + httptools, keep-alive pool per upstream origin,
capped). Bodies stream both ways with flow control on both sides (memory stays flat); redirects are never
followed and content is never decompressed, so the client sees exactly what the upstream said.

Timeouts: ``upstream_connect_timeout`` for a connection (and for a free one when the pool is full);
``upstream_total_timeout`` bounds the wait for the response head, restarted whenever the upstream takes a
piece of the request body (a long upload is not cut off for being long); ``upstream_read_timeout`` bounds
every wait for response bytes (a long stream such as MJPEG runs as long as bytes keep coming).

Failures: connection errors 502, timeouts 504, every circuit open 503. A pooled connection the upstream closed
before answering (stale keep-alive) is retried once on a fresh connection, for GET, HEAD and OPTIONS without a
body only; those methods are also retried on another target when the request cannot have reached the
application (connect failure, stale connection).

Observer points (for a per-request observer such as body digests; ``ExchangeObserver``): ``request_head``
sees the headers about to go upstream and may change them; ``request_chunk`` each request body piece;
``request_end`` the body's end, before its last piece goes upstream (with an observer each piece is sent when
the next has arrived; ``request_end`` raising keeps the last one back, so the upstream sees a cut body);
``response_head`` the upstream's status and headers; ``response_chunk`` each response body piece;
``finished`` the end (``complete`` false when either side was cut). The observer is the exchange's own
(``Exchange.integrity``: signed and ledger apps, ``gateway.integrity.observer``) or ``Proxy.observer``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from gateway.app_responses import AppResponseGuard
from gateway.errors import BadGateway, GatewayError, GatewayTimeout
from gateway.exchange import ClientGone, Conversation, Exchange, RequestBody
from gateway.headers import build_response_headers
from gateway.metrics import GatewayMetrics
from gateway.settings import Settings
from gateway.upstream_client import (
    Connection,
    Origin,
    ResponseHead,
    UpstreamClient,
    UpstreamError,
    build_ssl_context,
    parse_origin,
)
from gateway.upstreams import CLOSED, Target, TargetPool, Upstreams
from idp.upstream_addresses import build_upstream_addresses

log = logging.getLogger("gerbang.gateway.proxy")

RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What cannot have reached the application: another target may be tried.
_UNSENT = frozenset({"connect", "connect-timeout", "disconnected", "pool"})


class ExchangeObserver(Protocol):
    def request_head(self, exchange: Exchange, headers: list[tuple[str, str]]) -> None: ...

    def request_chunk(self, data: bytes) -> None: ...

    def request_end(self) -> None: ...

    def response_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None: ...

    def response_chunk(self, data: bytes) -> None: ...

    def finished(self, outcome: str | None) -> None: ...

    def unanswered(self, status: int) -> None: ...


class UpstreamFailure(Exception):
    def __init__(self, error: GatewayError, kind: str, retryable: bool) -> None:
        super().__init__(kind)
        self.error, self.kind, self.retryable = error, kind, retryable


class ClientDisconnected(GatewayError):
    """The client left mid-body; nothing can be answered (the pipeline only logs it)."""

    status, title, type_slug = 499, "Client Closed Request", "client-closed"


def build_client(settings: Settings) -> UpstreamClient:
    context = build_ssl_context(settings.upstream_ca_file) if settings.upstream_ca_file else None
    return UpstreamClient(
        build_upstream_addresses(settings),
        connect_timeout=settings.upstream_connect_timeout,
        keepalive=settings.upstream_keepalive_seconds,
        max_per_origin=settings.upstream_connections_per_host,
        max_header_bytes=settings.upstream_max_header_bytes,
        ssl_context=context,
    )


class Proxy:
    def __init__(self, settings: Settings, upstreams: Upstreams, metrics: GatewayMetrics) -> None:
        self.settings, self.upstreams, self.metrics = settings, upstreams, metrics
        self.responses = AppResponseGuard(
            settings.issuer, settings.apps_domain, settings.uses_tls, metrics.response_header_dropped
        )
        self.client: UpstreamClient | None = None
        self.total_timeout = settings.upstream_total_timeout
        self.read_timeout = settings.upstream_read_timeout
        self.observer: Callable[[Exchange], ExchangeObserver | None] | None = None  # see the module docstring
        self._origins: dict[str, Origin] = {}

    async def start(self) -> None:
        if self.client is None:
            self.client = build_client(self.settings)

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def forward(self, exchange: Exchange, conversation: Conversation) -> int:
        """Forward and stream the response; returns the status sent. Raises ``GatewayError`` before a response.

        The request is counted in the metrics when the response head is sent (a stream may last hours).
        """
        pool = self.upstreams.pool(exchange.route.slug, exchange.route.upstreams)
        body = (
            RequestBody(
                conversation, self.settings.max_body_bytes, self.settings.request_read_timeout, exchange.content_length
            )
            if exchange.has_body
            else None
        )
        retryable = body is None and exchange.head.method in RETRYABLE_METHODS
        observer: ExchangeObserver | None = exchange.integrity
        if observer is None and self.observer is not None:
            observer = self.observer(exchange)
        attempts = 1 + (self.settings.upstream_retries if retryable else 0)
        target: Target | None = None
        last: UpstreamFailure | None = None
        for _attempt in range(attempts):
            try:
                target = pool.choose(exclude=target)
            except GatewayError:
                if last is not None:  # no other target to retry on: answer the first failure
                    raise _unanswered(last, observer) from None
                raise
            try:
                connection, head = await self._request(target, exchange, body, retryable, observer)
            except UpstreamFailure as failure:
                self._failed(pool, target, failure.kind)
                if not failure.retryable:
                    raise _unanswered(failure, observer) from None
                last = failure
                continue
            self._succeeded(pool, target)
            return await self._stream(exchange, connection, head, conversation, observer)
        assert last is not None
        raise _unanswered(last, observer)

    async def _request(
        self,
        target: Target,
        exchange: Exchange,
        body: RequestBody | None,
        retryable: bool,
        observer: ExchangeObserver | None,
    ) -> tuple[Connection, ResponseHead]:
        assert self.client is not None, "Proxy.start() runs in the lifespan"
        origin = self._origins.get(target.base)
        if origin is None:
            origin = self._origins[target.base] = parse_origin(target.base)
        fresh = False
        while True:
            try:
                connection = await self.client.acquire(origin, fresh=fresh)
            except UpstreamError as exc:
                raise _failure(exc, retryable) from None
            try:
                connection.begin(head_request=exchange.head.method == "HEAD")
                connection.write(self._request_head(exchange, origin, observer))
                if body is not None:
                    await self._send_body(connection, body, exchange.chunked, observer)
                head = await connection.read_head(min(self.read_timeout, self.total_timeout))
                return connection, head
            except UpstreamError as exc:
                self.client.release(connection)
                if exc.kind == "disconnected" and connection.reused and retryable and not fresh:
                    fresh = True  # a keep-alive the upstream closed under us: once more, on a new connection
                    continue
                raise _failure(exc, retryable) from None
            except BaseException:  # the client's body failed (408, 413, 400, gone) or we were cancelled
                connection.abort()
                self.client.release(connection)
                raise

    def _request_head(self, exchange: Exchange, origin: Origin, observer: ExchangeObserver | None) -> bytes:
        head = exchange.head
        headers = exchange.upstream_headers
        if observer is not None:
            headers = list(headers)
            observer.request_head(exchange, headers)
        target = exchange.upstream_path + ("?" + head.query.decode("latin-1") if head.query else "")
        lines = [f"{head.method} {target} HTTP/1.1\r\nhost: ".encode("latin-1"), origin.authority, b"\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if exchange.chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    async def _send_body(
        self, connection: Connection, body: RequestBody, chunked: bool, observer: ExchangeObserver | None
    ) -> None:
        held: bytes | None = None  # with an observer: the latest piece, sent once the next one arrives
        while True:
            try:
                piece = await body.next()
            except ClientGone:
                raise ClientDisconnected() from None
            if piece is None:
                break
            if observer is not None:
                observer.request_chunk(piece)
                piece, held = held, piece
                if piece is None:
                    continue
            connection.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            await connection.drain(self.total_timeout)  # restarts with every piece the upstream takes
        if observer is not None:
            observer.request_end()  # raising: the last piece never goes upstream
            if held is not None:
                connection.write(b"%x\r\n%b\r\n" % (len(held), held) if chunked else held)
        if chunked:
            connection.write(b"0\r\n\r\n")
        await connection.drain(self.total_timeout)

    async def _stream(
        self,
        exchange: Exchange,
        connection: Connection,
        head: ResponseHead,
        conversation: Conversation,
        observer: ExchangeObserver | None,
    ) -> int:
        """Send the upstream's response as it arrives; a long response stops when the client leaves."""
        assert self.client is not None
        complete = released = False
        outcome = "gateway-cut"  # how it ended if not whole: the gateway's own failure or shutdown, unless below
        try:
            headers = self.responses.filter(
                exchange.route.slug, build_response_headers(head.headers, exchange.response_headers)
            )
            if observer is not None:
                observer.response_head(head.status, headers)
            await conversation.start_response(
                head.status, headers, not (connection.complete or connection.has_buffered)
            )
            self.metrics.observe(exchange.route.slug, head.status, time.perf_counter() - exchange.started)
            conversation.watch(connection.abort)
            while True:
                chunk = await connection.read_body(self.read_timeout)
                if conversation.gone():
                    outcome = "client-gone"
                    break
                more = bool(chunk) and not (connection.complete and not connection.has_buffered)
                if chunk and observer is not None:
                    observer.response_chunk(chunk)
                if not more:
                    # The app's answer is whole: its connection goes back to the pool before the last bytes go
                    # out, so a slow client, or a ledger app's wait for its receipt, never holds it. The client
                    # leaving from here on no longer concerns the connection.
                    conversation.watch(_nothing)
                    released = True
                    self.client.release(connection)
                    await conversation.send_body(chunk, False)
                    complete = True
                    break
                await conversation.send_body(chunk, more)
        except UpstreamError as exc:
            outcome = "client-gone" if conversation.gone() else "upstream-cut"
            if not conversation.gone():
                self.metrics.upstream_error(exchange.route.slug, "stream")
                log.warning(
                    "upstream stream broke request_id=%s app=%s: %r", exchange.head.request_id, exchange.route.slug, exc
                )
            conversation.abort()  # the client sees a truncation, never a clean end
        finally:
            if observer is not None:
                observer.finished(None if complete else outcome)
            if not released:
                if not complete:
                    connection.abort()
                self.client.release(connection)
        return head.status

    def _succeeded(self, pool: TargetPool, target: Target) -> None:
        breaker = target.breaker
        if breaker.failures or breaker.state is not CLOSED or target.down_until:
            pool.record_success(target)
            self.metrics.circuit_state(pool.slug, target.base, breaker.state)

    def _failed(self, pool: TargetPool, target: Target, kind: str) -> None:
        pool.record_failure(target)
        self.metrics.upstream_error(pool.slug, kind)
        self.metrics.circuit_state(pool.slug, target.base, target.breaker.state)


def _nothing() -> None:
    pass


def _unanswered(failure: UpstreamFailure, observer: ExchangeObserver | None) -> GatewayError:
    """The error the client gets when no answer came; the observer hears of it first (a ledger app's receipt)."""
    if observer is not None:
        observer.unanswered(failure.error.status)
    return failure.error


def _failure(exc: UpstreamError, retryable: bool) -> UpstreamFailure:
    kind = exc.kind
    if kind in ("timeout", "connect-timeout", "pool"):
        error: GatewayError = GatewayTimeout("the app's service did not answer in time", log_detail=repr(exc))
    elif kind == "connect":
        error = BadGateway("the app's service could not be reached", log_detail=repr(exc))
    elif kind == "disconnected":
        error = BadGateway("the app's service closed the connection", log_detail=repr(exc))
    else:
        error = BadGateway("the app's service answered incorrectly", log_detail=repr(exc))
    return UpstreamFailure(error, kind, retryable and kind in _UNSENT)
