"""The app plane: requests to app hosts served at the protocol level, inside the hub's one listener.

uvicorn's httptools protocol (``gateway.server_protocol.GuardedHttpToolsProtocol``) parses every request
head. When a head is complete it asks ``AppPlane.claims``: a request whose single ``Host`` names an app (and
that is not a WebSocket upgrade nor one of the gateway's sign-in pages on a session app's host) is served
here, without an ASGI scope, messages or middleware: an ``AppCycle`` runs ``gateway.pipeline.serve`` in one
task, reads the body from the parser's ``on_body`` callbacks and writes the answer straight to the transport.
Everything else — the hub's host (provider, account, console, admin API), unknown hosts, WebSocket upgrades —
falls through to the ASGI application as before.

``AppCycle`` is uvicorn's ``RequestResponseCycle`` (so pipelined requests, keep-alive, the graceful drain on
SIGTERM and the guarded protocol's body deadlines treat it like any other request) with its own lean
``Conversation`` methods in place of ASGI's ``receive``/``send``. A load balancer in front reaches both
planes at the same address and port: the split is by ``Host``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from gateway.access_log import AccessLog
from gateway.error_pages import build_page_answer, pick_language_of, wants_html
from gateway.errors import GatewayError
from gateway.exchange import ClientGone
from gateway.headers import build_traceparent
from gateway.model import Route
from gateway.origins import Origins
from gateway.pipeline import Pipeline, serve
from gateway.problem import build_problem
from gateway.request_head import InboundRequest, build_host, read_head
from idp.client_address import Headers

if TYPE_CHECKING:
    from gateway.server_protocol import GuardedHttpToolsProtocol

log = logging.getLogger("gerbang.gateway")

CONTROL_PREFIX = b"/.gerbang/"
_COALESCE = 16 * 1024  # smaller pieces are joined with their framing into one write


class AppPlane:
    def __init__(self, pipeline: Pipeline, origins: Origins, access_log: AccessLog | None) -> None:
        self.pipeline, self.origins, self.access_log = pipeline, origins, access_log
        self.hub_host = origins.hub_host
        self.served = 0  # requests this process served on the app plane (tests and the benchmark read it)

    def claims(self, headers: Headers, url: bytes, upgrade: bool) -> Route | None:
        """The app this request is for when the app plane serves it; None hands it to the ASGI application."""
        value: bytes | None = None
        for name, found in headers:
            if name == b"host":
                if value is not None:
                    return None  # refused by the ASGI side (one place answers malformed hosts)
                value = found
        if value is None or upgrade:
            return None
        try:
            host = build_host(value).rstrip(".")
        except GatewayError:
            return None
        if host == self.hub_host:
            return None
        found_route = self.pipeline.routes.lookup(host, "/")
        if found_route is None:
            return None
        route = found_route[0]
        if route.auth_mode == "session" and route.status == "active" and url.startswith(CONTROL_PREFIX):
            return None  # the gateway's own sign-in pages (starlette) on the app's host
        return route


class AppCycle(RequestResponseCycle):
    """One request on the app plane: uvicorn's cycle state, the proxy's ``Conversation`` over the transport."""

    def __init__(
        self,
        protocol: GuardedHttpToolsProtocol,
        plane: AppPlane,
        method: str,
        raw_path: bytes,
        query: bytes,
        *,
        keep_alive: bool,
        http10: bool,
    ) -> None:
        super().__init__(
            scope=protocol.scope,
            transport=protocol.transport,
            flow=protocol.flow,
            logger=protocol.logger,
            access_logger=protocol.access_logger,
            access_log=False,
            default_headers=protocol.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=protocol.expect_100_continue,
            keep_alive=keep_alive,
            on_response=protocol.on_response_complete,
        )
        self.plane, self.method, self.raw_path, self.query, self.http10 = plane, method, raw_path, query, http10
        self.headers: Headers = protocol.headers
        client = protocol.client
        self.peer = client[0] if client else "unknown"
        self.scheme = protocol.scheme or "http"
        self.started = time.perf_counter()
        self.status = 0
        self.sent_bytes = 0
        self.request_id = ""
        self.no_body = method == "HEAD"
        self.pending = b""
        self.on_gone: Any = None

    async def run(self) -> None:
        plane = self.plane
        plane.served += 1
        pipeline = plane.pipeline
        note = plane.access_log.begin() if plane.access_log is not None else None
        try:
            await serve(pipeline, self, self.headers, self.started, self._read_head)
        except asyncio.CancelledError:  # the graceful drain's deadline passed: the request is cut
            self.abort()
            raise
        except Exception as exc:  # serve answers every error itself; this is the last resort
            log.error("app plane request failed", exc_info=exc)
            self.abort()
        finally:
            if not self.response_complete and not self.disconnected:
                self.abort()
            self.on_response = _nothing
            if note is not None and plane.access_log is not None:
                plane.access_log.write_line(
                    self.request_id,
                    _host(self.headers),
                    note,
                    self.method,
                    self.raw_path.decode("latin-1"),
                    self.status or 500,
                    self.sent_bytes,
                    self.started,
                )

    def _read_head(self, request_id: str) -> InboundRequest:
        pipeline = self.plane.pipeline
        return read_head(
            self.method,
            self.raw_path,
            self.query,
            self.headers,
            self.peer,
            self.scheme,
            request_id,
            build_traceparent(self.headers, request_id),
            pipeline.max_header_bytes,
            pipeline.trusted_proxies,
        )

    # gateway.exchange.Conversation
    async def read_body(self) -> tuple[bytes, bool]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            raise ClientGone
        body = bytes(self.body)
        self.body.clear()
        return body, self.more_body

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]], flush: bool = True) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        self.status = status
        content = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            content += (name, b": ", value, b"\r\n")
        length = False
        for name, value in headers:
            if b"\n" in value or b"\r" in value:
                continue  # never a split response
            if name == b"content-length":
                length = True
            elif name == b"x-request-id":
                self.request_id = value.decode("latin-1")
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
                continue
            content += (name, b": ", value, b"\r\n")
        self.no_body = self.no_body or status in (204, 304) or status < 200
        if self.no_body or length:
            self.chunked_encoding = False
        elif self.http10:  # an HTTP/1.0 client cannot read chunks: the body ends with the connection
            self.chunked_encoding = False
            self.keep_alive = False
        else:
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        self.pending = b"".join(content)
        if flush:
            self.transport.write(self.pending)
            self.pending = b""

    async def send_body(self, data: bytes, more: bool) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        out = self.pending
        self.pending = b""
        if data and not self.no_body:
            self.sent_bytes += len(data)
            if len(data) < _COALESCE:
                out += b"%x\r\n%b\r\n" % (len(data), data) if self.chunked_encoding else data
            elif self.chunked_encoding:
                self.transport.writelines((out, b"%x\r\n" % len(data), data, b"\r\n"))
                out = b""
            else:
                self.transport.writelines((out, data))
                out = b""
        if not more and self.chunked_encoding and not self.no_body:
            out += b"0\r\n\r\n"
        if out:
            self.transport.write(out)
        if not more:
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def watch(self, on_gone: Any) -> None:
        self.on_gone = on_gone

    def gone(self) -> bool:
        return self.disconnected

    def abort(self) -> None:
        self.keep_alive = False
        if not self.transport.is_closing():
            self.transport.close()

    async def send_problem(self, error: GatewayError, request_id: str, *, close: bool) -> None:
        if self.response_started:
            raise RuntimeError("the response has begun")
        status, headers, body = build_problem(error, request_id)
        if wants_html(self.headers):  # a browser's navigation: a page in Bahasa Indonesia (gateway.error_pages)
            headers, body = build_page_answer(
                status, headers, pick_language_of(self.query, self.headers), head=self.method == "HEAD"
            )
        if close:
            self.keep_alive = False
        await self.start_response(status, headers, flush=False)
        await self.send_body(body, False)

    def lost(self) -> None:
        """The client's connection is gone (``connection_lost``): stop the upstream's stream."""
        if self.on_gone is not None and not self.response_complete:
            self.on_gone()


def start_cycle(protocol: GuardedHttpToolsProtocol, plane: AppPlane) -> AppCycle:
    """Called from ``on_headers_complete`` for a request ``plane.claims``."""
    parser = protocol.parser
    version = parser.get_http_version()
    method = parser.get_method().decode("ascii")
    protocol.scope["method"] = method
    url = httptools.parse_url(protocol.url)
    return AppCycle(
        protocol,
        plane,
        method,
        url.path,
        url.query or b"",
        keep_alive=version != "1.0" and parser.should_keep_alive(),
        http10=version == "1.0",
    )


def _host(headers: Headers) -> str | None:
    for name, value in headers:
        if name == b"host":
            return value.decode("latin-1")
    return None


def _nothing() -> None:
    return None
