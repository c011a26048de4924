"""What the proxy needs to forward one checked request: the ``Exchange``, the client's ``Conversation``, its body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.types import Receive, Send

from gateway.errors import BadRequest, GatewayError, PayloadTooLarge, RequestTimeout
from gateway.model import RequestHead, Route
from gateway.problem import send_problem

if TYPE_CHECKING:
    from gateway.integrity.observer import IntegrityObserver


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
    integrity: IntegrityObserver | None = None  # signed and ledger apps (gateway.integrity.observer)

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


class ClientGone(Exception):
    """The client closed its connection while we were reading its body."""


class Conversation(Protocol):
    """The client's side of one forwarded request: the app plane's own cycle (``gateway.app_plane``) or ASGI
    ``receive``/``send`` (``AsgiConversation``). The proxy reads the body and writes the answer through it."""

    async def read_body(self) -> tuple[bytes, bool]:
        """The next piece of the request body and whether more follows; raises ``ClientGone``."""

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]], flush: bool = True) -> None:
        """``flush`` false: the body follows at once, the head may go out with it."""

    async def send_body(self, data: bytes, more: bool) -> None: ...

    def watch(self, on_gone: Callable[[], None]) -> None:
        """Call ``on_gone`` if the client leaves while the response streams (it stops the upstream)."""

    def gone(self) -> bool: ...

    def abort(self) -> None:
        """The response cannot be completed: the client must see a truncation, never a clean end."""


class RequestBody:
    """The client's body, read piece by piece from a ``Conversation`` on its way upstream.

    Each piece must arrive within ``idle_timeout`` seconds (a slowloris client gets 408), the byte count is
    checked against ``limit`` while streaming (413), and a body longer than its Content-Length is refused (400).
    """

    __slots__ = ("conversation", "declared", "finished", "idle_timeout", "limit", "received")

    def __init__(self, conversation: Conversation, limit: int, idle_timeout: float, declared: int | None) -> None:
        self.conversation, self.limit, self.idle_timeout, self.declared = conversation, limit, idle_timeout, declared
        self.received = 0
        self.finished = False

    async def next(self) -> bytes | None:
        """The next non-empty piece, or None once the body is complete."""
        while not self.finished:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    body, more = await self.conversation.read_body()
            except TimeoutError:
                raise RequestTimeout(
                    "the request body was not sent in time",
                    log_detail=f"no body bytes for {self.idle_timeout}s after {self.received} bytes",
                ) from None
            self.received += len(body)
            if self.received > self.limit:
                raise PayloadTooLarge(f"the request body exceeds {self.limit} bytes")
            if self.declared is not None and self.received > self.declared:
                raise BadRequest("the request body is longer than its Content-Length")
            self.finished = not more
            if body:
                return body
        return None


class AsgiConversation:
    """``Conversation`` over ASGI ``receive``/``send`` (the hub's server, when it is not the app plane's)."""

    __slots__ = ("_on_gone", "_watcher", "receive", "send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive, self.send = receive, send
        self._on_gone: Callable[[], None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def read_body(self) -> tuple[bytes, bool]:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        return message.get("body", b""), message.get("more_body", False)

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]], flush: bool = True) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def send_body(self, data: bytes, more: bool) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})
        if more and self._watcher is None and self._on_gone is not None:  # a stream: notice the client leaving
            self._watcher = asyncio.ensure_future(self._wait_for_disconnect(self._on_gone))

    def watch(self, on_gone: Callable[[], None]) -> None:
        self._on_gone = on_gone

    async def send_problem(self, error: GatewayError, request_id: str, *, close: bool) -> None:
        self.close()
        await send_problem(self.send, error, request_id, close=close)

    def gone(self) -> bool:
        return self._watcher is not None and self._watcher.done()

    def abort(self) -> None:
        """Returning without the last body message makes uvicorn close the connection."""
        self.close()

    def close(self) -> None:
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()

    async def _wait_for_disconnect(self, on_gone: Callable[[], None]) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        on_gone()
