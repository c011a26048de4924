"""The app plane's upstream HTTP/1.1 client: asyncio protocols, httptools' response parser, a keep-alive pool.

    UpstreamClient.acquire(origin) → Connection      (pooled, LIFO; capped per origin; TLS with ALPN http/1.1)
    Connection.write(bytes) / drain(timeout)          (flow control: the transport's pause/resume_writing)
    Connection.read_head(timeout) → ResponseHead     (1xx other than 101 skipped; header bytes capped)
    Connection.read_body(timeout) → bytes            (b"" at the end; reading pauses above 64 KiB buffered)
    UpstreamClient.release(connection)               (kept only when the response ended cleanly and keep-alive)

Failures are ``UpstreamError`` with a ``kind``: ``connect`` (nothing was sent), ``timeout``, ``disconnected``
(closed before any response byte: on a reused connection typically a keep-alive the upstream had just
closed — ``stale``), ``protocol`` (a malformed or truncated response), ``pool`` (no connection free in time).
Names are resolved at every connect and every address is checked (``idp.upstream_addresses``: DNS rebinding).
A body delimited by the connection's close ends at EOF; a chunked or sized body cut short is an error, never
a clean end.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import cast

import httptools

from idp.upstream_addresses import UpstreamAddresses

READ_HIGH_WATER = 65536
_NO_BODY_STATUS = frozenset({204, 304})


class UpstreamError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: scheme, host and port of an upstream base URL (the pool's key)."""

    scheme: str
    host: str
    port: int
    authority: bytes = b""  # the Host header the upstream is sent (the port only when not the default)


def parse_origin(base: str) -> Origin:
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = authority.partition(":")
    default = 443 if scheme == "https" else 80
    number = int(port) if port else default
    named = f"[{host}]" if ":" in host else host
    return Origin(scheme, host, number, (named if number == default else f"{named}:{number}").encode("idna"))


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # as received, names lower-cased


class Connection(asyncio.Protocol):
    """One upstream connection; serves one request at a time (no pipelining)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin, max_header_bytes: int) -> None:
        self.loop, self.origin, self.max_header_bytes = loop, origin, max_header_bytes
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._waiter: asyncio.Future[None] | None = None
        self._writable = True
        self._drainer: asyncio.Future[None] | None = None
        self._stopped_at_head = False
        self._reset_response(head_request=False)

    def _reset_response(self, *, head_request: bool) -> None:
        self.head_request = head_request
        self.head: ResponseHead | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self.complete = False
        self.received_any = False
        self.error: UpstreamError | None = None
        self.keep_alive = False
        self._until_close = False
        self._read_paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self.error is None:
            if self.head is not None and self._until_close:
                self.complete = True  # RFC 9112 §6.3 (8): the body ends where the connection does
            else:
                kind = "protocol" if self.received_any else "disconnected"
                self.error = UpstreamError(
                    kind,
                    f"closed {'mid-response' if self.received_any else 'before a response'}"
                    f"{f': {exc!r}' if exc else ''}",
                )
        self._wake()
        if self._drainer is not None and not self._drainer.done():
            self._drainer.set_result(None)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._stopped_at_head:  # a HEAD answer has no body to parse; the next response gets a new parser
                self._stopped_at_head = False
                self.parser = httptools.HttpResponseParser(self)
                self._wake()
                return
            if self.error is None:
                self.error = UpstreamError("protocol", repr(exc))
            self.close()
        self._wake()

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        if self._drainer is not None and not self._drainer.done():
            self._drainer.set_result(None)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.max_header_bytes:
            self.error = UpstreamError("protocol", f"response headers exceed {self.max_header_bytes} bytes")
            raise httptools.HttpParserError("response head too large")
        self._headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # 100 Continue, 103 Early Hints: the final answer follows
            self._headers, self._header_bytes = [], 0
            return
        self.head = ResponseHead(status, self._headers)
        self.keep_alive = self.parser.should_keep_alive()
        framed = any(name in (b"content-length", b"transfer-encoding") for name, _ in self._headers)
        self._until_close = not framed and status not in _NO_BODY_STATUS
        if self.head_request or status == 101:
            self.complete = True
            self._until_close = False
            if status == 101:
                self.keep_alive = False
            self._stopped_at_head = True
            raise _StopAtHead

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.head is not None:
            self.complete = True
            self.keep_alive = self.keep_alive and self.parser.should_keep_alive()

    # the proxy's side
    def begin(self, *, head_request: bool) -> None:
        self._reset_response(head_request=head_request)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():  # uvloop raises on a closed handle
            raise self.error or UpstreamError("disconnected", "closed before the request was sent")
        transport.write(data)

    async def drain(self, timeout: float) -> None:
        if self._writable or self.closed:
            return
        self._drainer = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, self._drainer, "the upstream stopped reading the body")
        try:
            await self._drainer
        finally:
            timer.cancel()
            self._drainer = None
        if self.error is not None:
            raise self.error

    async def read_head(self, timeout: float) -> ResponseHead:
        while self.head is None:
            if self.error is not None:
                raise self.error
            await self._wait(timeout, "no response head in time")
        return self.head

    async def read_body(self, timeout: float) -> bytes:
        """The next piece of the body; b"" once it is complete. Raises ``UpstreamError`` when it was cut."""
        while True:
            if self._chunks:
                if len(self._chunks) == 1:
                    data = self._chunks.popleft()
                else:
                    data = b"".join(self._chunks)
                    self._chunks.clear()
                self._buffered = 0
                if self._read_paused and self.transport is not None:
                    self._read_paused = False
                    self.transport.resume_reading()
                return data
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait(timeout, "the response body stalled")

    @property
    def has_buffered(self) -> bool:
        return bool(self._chunks)

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and not self._chunks

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float, why: str) -> None:
        self._waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter, why)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


class _StopAtHead(Exception):
    """Stops the parser after a head that has no body (HEAD, 101)."""


def _expire(waiter: asyncio.Future[None], why: str) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamError("timeout", why))


class _Pool:
    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[Connection] = []
        self.open = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()


class UpstreamClient:
    """Keep-alive connections per origin, at most ``max_per_origin`` open; idle ones kept ``keepalive`` s."""

    def __init__(
        self,
        addresses: UpstreamAddresses,
        *,
        connect_timeout: float,
        keepalive: float,
        max_per_origin: int,
        max_header_bytes: int = 64 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.addresses, self.connect_timeout, self.keepalive = addresses, connect_timeout, keepalive
        self.max_per_origin, self.max_header_bytes = max_per_origin, max_header_bytes
        self.ssl_context = ssl_context
        self.pools: dict[Origin, _Pool] = {}

    async def acquire(self, origin: Origin, *, fresh: bool = False) -> Connection:
        pool = self.pools.get(origin)
        if pool is None:
            pool = self.pools[origin] = _Pool()
        now = time.monotonic()
        while pool.idle and not fresh:
            connection = pool.idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive:
                connection.reused = True
                return connection
            self._discard(pool, connection)
        while pool.open >= self.max_per_origin:
            waiter = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await waiter
            except TimeoutError:
                raise UpstreamError("pool", f"{self.max_per_origin} connections busy") from None
            finally:
                if waiter in pool.waiters:
                    pool.waiters.remove(waiter)
            if pool.idle and not fresh:
                connection = pool.idle.pop()
                if not connection.closed:
                    connection.reused = True
                    return connection
                self._discard(pool, connection)
        pool.open += 1
        try:
            return await self._connect(origin)
        except BaseException:
            pool.open -= 1
            self._wake_one(pool)
            raise

    def release(self, connection: Connection) -> None:
        pool = self.pools.get(connection.origin)
        if pool is None:
            connection.close()
            return
        if connection.reusable:
            connection.idle_since = time.monotonic()
            pool.idle.append(connection)
        else:
            connection.close()
            pool.open -= 1
        self._wake_one(pool)

    def close(self) -> None:
        for pool in self.pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()
        self.pools.clear()

    def _discard(self, pool: _Pool, connection: Connection) -> None:
        connection.close()
        pool.open -= 1

    @staticmethod
    def _wake_one(pool: _Pool) -> None:
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, origin: Origin) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
                last: Exception | None = None
                for family, kind, proto, _name, address in infos:
                    try:
                        self.addresses.check(str(address[0]))  # the connect-time check: DNS rebinding
                        sock = socket.socket(family, kind, proto)
                    except OSError as exc:
                        last = exc
                        continue
                    try:
                        sock.setblocking(False)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        await loop.sock_connect(sock, address)
                    except OSError as exc:
                        sock.close()
                        last = exc
                        continue
                    return await self._start(loop, origin, sock)
                raise last or OSError(f"{origin.host} resolves to no address")
        except TimeoutError:
            raise UpstreamError("connect-timeout", f"connect to {origin.host}:{origin.port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError("connect", repr(exc)) from None

    async def _start(self, loop: asyncio.AbstractEventLoop, origin: Origin, sock: socket.socket) -> Connection:
        context = None
        if origin.scheme == "https":
            context = self.ssl_context or build_ssl_context()
        try:
            _transport, connection = await loop.create_connection(
                lambda: Connection(loop, origin, self.max_header_bytes),
                sock=sock,
                ssl=context,
                server_hostname=origin.host if context is not None else None,
            )
        except BaseException:
            sock.close()
            raise
        return connection


def build_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Certificates and host names verified (the system's CAs, or ``ca_file``); HTTP/1.1 by ALPN."""
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["http/1.1"])
    return context
