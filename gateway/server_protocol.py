"""uvicorn's httptools protocol with deadlines and size caps for the request head and body, on every route.

uvicorn parses the head before the application runs and has neither a deadline for it (a
slowloris client dribbling header lines, or a connection that sends nothing, holds its
slot for ever) nor, with httptools, a size limit (the head is buffered whole). This
subclass arms a timer when a connection opens and when each request begins, cancels it
when the head is complete, and answers 408 when it fires (a silent close when no byte was
sent). The head's size is counted twice: the bytes received while it is incomplete (a head
that never ends), and each header as the parser delivers it (the same measure as
``gateway.headers.check_request_headers``), so a head that arrives whole in one read is
refused too, before any route — the provider's and the console's as much as the apps' — sees
it: 431 without parsing further.

The body has a minimum rate (Apache's mod_reqtimeout ``body=…,MinRate=…``): after the head,
the client has ``body_timeout`` seconds plus one second per ``body_min_rate`` bytes already
sent. A body trickled one byte every few seconds is cut off with 408 (or a close once the
response has begun). Time during which the application is not reading (uvicorn paused the
socket: the app or its upstream is slow), or the client waits for ``100 Continue``, is not
counted against the client. Answers are rendered by ``gateway.problem``.

Used by ``gerbang serve`` as ``http="gateway.server_protocol:GuardedHttpToolsProtocol"``;
the limits come from the application's ``server_limits`` (``GatewayApp``), so they follow
the settings in every worker process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, NoReturn

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.app_plane import AppCycle, AppPlane, start_cycle
from gateway.errors import BadRequest, GatewayError, HeadersTooLarge, RequestTimeout, UriTooLong
from gateway.headers import new_id
from gateway.problem import build_problem

# Room for the request line on top of the header limit the application enforces exactly.
REQUEST_LINE_ALLOWANCE = 8192
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ServerLimits:
    head_timeout: float = 10.0
    max_head_bytes: int = 16 * 1024 + REQUEST_LINE_ALLOWANCE
    max_header_bytes: int = 16 * 1024
    body_timeout: float = 20.0
    body_min_rate: int = 500  # bytes per second, once body_timeout is used up


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing; httptools wraps it in HttpParserCallbackError."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ServerLimits = getattr(config.loaded_app, "server_limits", None) or ServerLimits()
        # Requests to app hosts are served by the app plane (gateway.app_plane), the rest by the ASGI app.
        self.plane: AppPlane | None = getattr(config.loaded_app, "app_plane", None)
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_deadline = 0.0
        self.head_bytes = 0
        self.head_pending = False
        self.target_bytes = self.header_bytes = 0  # as parsed: also when the whole head came in one read
        self.head_refusal: GatewayError | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.body_bytes = 0
        self.body_waited = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._stop_body()
        super().connection_lost(exc)
        if isinstance(self.cycle, AppCycle):
            self.cycle.lost()

    def data_received(self, data: bytes) -> None:
        if self.head_pending:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_pending and self.head_bytes > self.limits.max_head_bytes and not self.transport.is_closing():
            self._refuse(HeadersTooLarge("the request head is too large"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.target_bytes, self.header_bytes, self.head_refusal = 0, 0, None
        if not self.head_pending:  # the next request on a kept-alive or pipelined connection
            self._start_head()

    def on_url(self, url: bytes) -> None:
        self.target_bytes += len(url)
        if self.target_bytes > REQUEST_LINE_ALLOWANCE:
            self._refuse_in_parser(UriTooLong(f"the request target exceeds {REQUEST_LINE_ALLOWANCE} bytes"))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.limits.max_header_bytes:
            self._refuse_in_parser(HeadersTooLarge(f"request headers exceed {self.limits.max_header_bytes} bytes"))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head()
        if self.url == b"*":
            # Asterisk-form (RFC 9112 §3.2.4, ``OPTIONS *``) asks about the server, not a resource: no route, no app
            # and no framework default may answer it (starlette would send plain-text 404s). nginx refuses it too.
            self._refuse_in_parser(BadRequest("the asterisk-form target (OPTIONS *) is not served; name a path"))
        if not self.url.startswith(b"/"):
            self._check_absolute_target()
        plane = self.plane
        if plane is not None and plane.claims(self.headers, self.url, self.parser.should_upgrade()) is not None:
            self._start_app_cycle(plane)
        else:
            super().on_headers_complete()
        if self._declares_body() and not self.parser.should_upgrade():
            self._start_body()

    def _start_app_cycle(self, plane: AppPlane) -> None:
        """As uvicorn starts an ASGI cycle: at once, or queued behind a pipelined request still answering."""
        existing = self.cycle
        self.cycle = cycle = start_cycle(self, plane)
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, None)
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, None))  # type: ignore[arg-type]

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if isinstance(cycle, AppCycle):
            task = self.loop.create_task(cycle.run())
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        else:
            super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_body()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # Our own callback stopped the parser: answer why; else httptools refused the bytes (problem+json too).
        self._refuse(self.head_refusal or BadRequest(f"the request is not valid HTTP/1.1: {msg}"))

    def _check_absolute_target(self) -> None:
        """RFC 9112 §3.2.2: an absolute-form target's authority, not ``Host``, names the origin. Both fronts route
        by ``Host`` (as a balancer in front may route by either), so the two must name the same authority; any
        other form (authority-form ``CONNECT``, a scheme other than http/https) is refused: this is no forward
        proxy."""
        try:
            target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            self._refuse_in_parser(BadRequest("the request target is neither a path nor an http(s) URL"))
        if target.schema not in (b"http", b"https") or not target.host:
            self._refuse_in_parser(BadRequest("the request target is neither a path nor an http(s) URL"))
        authority = target.host + (b":%d" % target.port if target.port else b"")
        hosts = [value for name, value in self.headers if name == b"host"]
        if len(hosts) != 1 or hosts[0].strip().lower() != authority.lower():
            self._refuse_in_parser(BadRequest("the request target names another host than the Host header"))

    def _refuse_in_parser(self, error: GatewayError) -> NoReturn:
        self.head_refusal = error
        raise _HeadRefused

    def _declares_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
                return True
        return False

    def _start_body(self) -> None:
        self._stop_body()
        self.body_bytes, self.body_waited = 0, 0.0
        self.body_timer = self.loop.call_later(self._body_tick, self._body_check)

    @property
    def _body_tick(self) -> float:
        return min(1.0, self.limits.body_timeout / 4)

    def _stop_body(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def _body_check(self) -> None:
        self.body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if not self.flow.read_paused and not self._waits_for_continue(cycle):
            self.body_waited += self._body_tick
        allowed = self.limits.body_timeout + self.body_bytes / self.limits.body_min_rate
        if self.body_waited > allowed:
            self._cut_body(cycle)
            return
        self.body_timer = self.loop.call_later(self._body_tick, self._body_check)

    @staticmethod
    def _waits_for_continue(cycle: Any) -> bool:
        """The client waits for ``100 Continue`` (sent when the app first reads): its silence is not slowness."""
        return bool(getattr(cycle, "expect_100_continue", False))

    def _cut_body(self, cycle: Any) -> None:
        detail = f"request body too slow: {self.body_bytes} bytes in {self.body_waited:.0f}s"
        # The application sees a disconnect; whatever it answers afterwards is dropped.
        started = cycle.response_started
        cycle.disconnected = True
        cycle.message_event.set()
        if started:
            self.transport.close()
            return
        self._refuse(RequestTimeout("the request body was sent too slowly", log_detail=detail))

    def _start_head(self) -> None:
        # One timer per connection, re-armed only when it fires: a request costs a clock read, not a timer
        # (a keep-alive connection serving thousands of requests a second would otherwise add and cancel one each).
        self.head_pending, self.head_bytes = True, 0
        self.head_deadline = self.loop.time() + self.limits.head_timeout
        if self.head_timer is None:
            self.head_timer = self.loop.call_at(self.head_deadline, self._head_check)

    def _stop_head(self) -> None:
        self.head_pending = False

    def _cancel_head_timer(self) -> None:
        self.head_pending = False
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_check(self) -> None:
        self.head_timer = None
        if not self.head_pending or self.transport.is_closing():
            return  # the head came in time; the next request arms the timer again
        if self.loop.time() < self.head_deadline:  # a later request's head: its own deadline
            self.head_timer = self.loop.call_at(self.head_deadline, self._head_check)
            return
        self._head_too_slow()

    def _head_too_slow(self) -> None:
        if self.head_bytes == 0:  # an idle connection: nothing to answer
            self.transport.close()
            return
        self._refuse(RequestTimeout("the request head was not sent in time"))

    def _refuse(self, error: GatewayError) -> None:
        self._stop_head()
        status, headers, body = build_problem(error, new_id(128))
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        lines += [name + b": " + value + b"\r\n" for name, value in headers]
        lines.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(lines) + body)
        self.transport.close()
