"""What the proxy steps need to forward one checked request: the ``Exchange`` value and its body reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive

from gateway.errors import BadRequest, GatewayError, PayloadTooLarge, RequestTimeout
from gateway.model import RequestHead, Route


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request ready to go upstream: checked head, route, the headers to send, and what to answer with."""

    head: RequestHead
    route: Route
    upstream_path: str  # normalised; forwarded byte for byte
    upstream_headers: list[tuple[str, str]]  # hygiene applied, gateway headers added
    response_headers: tuple[tuple[bytes, bytes], ...]  # added to the client's response (request id, RateLimit)
    content_length: int | None
    chunked: bool
    started: float  # perf_counter() when the request reached the gateway, for the latency metric
    observer: Any = None  # gateway.integrity.observer.IntegrityObserver for signed and ledger apps

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


class ClientGone(Exception):
    """The client closed its connection while we were reading its body."""


class RequestBody:
    """The client's body, streamed chunk by chunk from ASGI ``receive`` to the upstream.

    Each ``receive`` must complete within ``idle_timeout`` seconds (a slowloris client gets
    408), the byte count is checked against ``limit`` while streaming (413), and a body
    longer than its Content-Length is refused (400). The first error is kept in ``error``
    because the HTTP client wraps whatever the body iterator raises.
    """

    __slots__ = ("receive", "limit", "idle_timeout", "declared", "received", "error", "finished", "on_progress",
                 "observer")

    def __init__(self, receive: Receive, limit: int, idle_timeout: float, declared: int | None) -> None:
        self.receive, self.limit, self.idle_timeout, self.declared = receive, limit, idle_timeout, declared
        self.received = 0
        self.error: GatewayError | ClientGone | None = None
        self.finished = False
        self.on_progress: Callable[[], None] | None = None  # called for every piece the upstream took
        self.observer: Any = None  # checks the body against its Content-Digest before its last piece goes on

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.finished:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    message = await self.receive()
            except TimeoutError:
                raise self._fail(RequestTimeout("the request body was not sent in time",
                                                log_detail=f"no body bytes for {self.idle_timeout}s "
                                                           f"after {self.received} bytes")) from None
            if message["type"] == "http.disconnect":
                raise self._fail(ClientGone())
            body = message.get("body", b"")
            self.received += len(body)
            if self.received > self.limit:
                raise self._fail(PayloadTooLarge(f"the request body exceeds {self.limit} bytes"))
            if self.declared is not None and self.received > self.declared:
                raise self._fail(BadRequest("the request body is longer than its Content-Length"))
            self.finished = not message.get("more_body", False)
            if self.observer is not None:
                try:
                    self.observer.request_chunk(body, self.finished)
                except GatewayError as error:
                    raise self._fail(error) from None
            if self.on_progress is not None:
                self.on_progress()
            if body:
                yield body

    def _fail(self, error: GatewayError | ClientGone) -> GatewayError | ClientGone:
        self.error = self.error or error
        return error
