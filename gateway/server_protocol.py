"""uvicorn's httptools protocol with a deadline and a size cap for the request head.

uvicorn parses the head before the application runs and has neither a deadline for it (a
slowloris client dribbling header lines, or a connection that sends nothing, holds its
slot for ever) nor, with httptools, a size limit (the head is buffered whole). This
subclass arms a timer when a connection opens and when each request begins, cancels it
when the head is complete, and answers 408 when it fires (a silent close when no byte was
sent); a head growing past the cap is answered 431 without parsing further. Both answers
are rendered by ``gateway.problem``. The body deadline is the proxy's (``RequestBody``).

Used by ``gerbang serve`` as ``http="gateway.server_protocol:GuardedHttpToolsProtocol"``;
the limits come from the application's ``server_limits`` (``GatewayApp``), so they follow
the settings in every worker process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import GatewayError, HeadersTooLarge, RequestTimeout
from gateway.headers import new_id
from gateway.problem import build_problem

# Room for the request line on top of the header limit the application enforces exactly.
REQUEST_LINE_ALLOWANCE = 8192
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ServerLimits:
    head_timeout: float = 10.0
    max_head_bytes: int = 16 * 1024 + REQUEST_LINE_ALLOWANCE


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ServerLimits = getattr(config.loaded_app, "server_limits", None) or ServerLimits()
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.head_pending = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.head_pending:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_pending and self.head_bytes > self.limits.max_head_bytes and not self.transport.is_closing():
            self._refuse(HeadersTooLarge("the request head is too large"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self.head_pending:  # the next request on a kept-alive or pipelined connection
            self._start_head()

    def on_headers_complete(self) -> None:
        self._stop_head()
        super().on_headers_complete()

    def _start_head(self) -> None:
        self._stop_head()
        self.head_pending, self.head_bytes = True, 0
        self.head_timer = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _stop_head(self) -> None:
        self.head_pending = False
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
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
