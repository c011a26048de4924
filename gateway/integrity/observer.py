"""One request's integrity work, behind the proxy's per-request observer points (``gateway.proxy``).

``IntegrityPlane.begin`` runs in ``gateway.pipeline.run_steps`` after the rate limit, before anything is forwarded,
for an app whose ``integrity`` is ``signed`` or ``ledger`` (``None`` for ``none``); the observer travels on the
``Exchange``. ``gateway.pipeline.serve`` then lets it ``attach`` to the client's ``Conversation`` (whichever front:
the app plane or ASGI), and the proxy calls it, in this order::

    await observer.attach(front) -> front     reads a body without Content-Digest whole (replayed from memory);
                                              for a ledger app, holds the response until its receipt is durable
    observer.request_head(exchange, headers)  the client's digest and signature fields give way to the hub's
                                              Content-Digest, Signature-Input and Signature
    observer.request_chunk(chunk)             every request body piece (the proxy holds each until the next)
    observer.request_end()                    raises BadRequest when the body does not match its Content-Digest:
                                              the proxy never passes the last piece on (the upstream sees a cut body)
    observer.response_head(status, headers)
    observer.response_chunk(chunk)            every response body piece, before it is sent
    await observer.complete()                 (from the attached front) before the response's last bytes go to the
                                              client: the receipt is durable when it returns (ledger); raises
                                              ServiceUnavailable if not
    observer.finished(outcome)                None when the client got the whole answer; else how it ended early
                                              (``receipts.OUTCOMES``): a ledger app still gets a receipt, since the
                                              request reached the app, recorded in the background (nobody waits)
    observer.unanswered(status)               the request went upstream and no answer came (the client gets
                                              ``status``, 502/504): a ledger app records a ``no-response`` receipt

The request digest must be known when the headers go out (they precede the body). A client that sends
``Content-Digest: sha-256=:…:`` (RFC 9530: the sender computes it) is streamed, its digest checked piece by
piece; without one the body is buffered up to ``buffer_bytes`` to compute it and a larger one is refused with 413.
docs/integrity.md explains the choice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gateway.errors import BadRequest, Forbidden, GatewayError, PayloadTooLarge, ServiceUnavailable
from gateway.exchange import ClientGone, Conversation, RequestBody
from gateway.integrity.http_signatures import format_content_digest, parse_content_digest
from gateway.integrity.ledger_writer import LedgerWriter
from gateway.integrity.receipts import ChainedReceipt, ProvenReceipt, Receipt
from gateway.integrity.signer import RequestSigner
from gateway.model import Principal, RequestHead, Route

if TYPE_CHECKING:
    from gateway.exchange import Exchange

log = logging.getLogger("gerbang.integrity")

_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()  # most requests have no query string
DROPPED_REQUEST_HEADERS = frozenset(
    {"content-digest", "signature", "signature-input", "repr-digest", "want-content-digest"}
)


class Front(Conversation, Protocol):
    """``gateway.pipeline.Front``: a ``Conversation`` that can also answer a refusal itself."""

    async def send_problem(self, error: GatewayError, request_id: str, *, close: bool) -> None: ...


class IntegrityPlane:
    """Builds the observers: the signer, the ledger writer, the limits (a ledger app fails closed without them)."""

    def __init__(
        self,
        signer: RequestSigner,
        ledger: LedgerWriter,
        *,
        buffer_bytes: int,
        read_timeout: float,
        hold_bytes: int = 1 << 20,
        limits_ok: Callable[[], bool] = lambda: True,
    ) -> None:
        self.signer, self.ledger = signer, ledger
        self.buffer_bytes, self.read_timeout, self.hold_bytes = buffer_bytes, read_timeout, hold_bytes
        self.limits_ok = limits_ok
        self._background: set[asyncio.Task[None]] = set()  # receipts of exchanges that ended early

    def record_later(self, receipt: Receipt) -> None:
        """A receipt nobody waits for (the client is gone or was answered with an error): written with the next
        batch; a failure is logged with the request id, the exchange already over."""
        task = asyncio.get_running_loop().create_task(self._record_quietly(receipt))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record_quietly(self, receipt: Receipt) -> None:
        try:
            await self.ledger.record(receipt)
        except Exception:
            log.exception(
                "ledger receipt of an exchange that ended early was not written request_id=%s app=%s outcome=%s",
                receipt.request_id,
                receipt.app,
                receipt.outcome,
            )

    def begin(
        self,
        route: Route,
        principal: Principal,
        head: RequestHead,
        content_length: int | None,
        chunked: bool,
        assertion: str,
        *,
        websocket: bool = False,
    ) -> IntegrityObserver | None:
        if route.integrity not in ("signed", "ledger"):
            return None
        if websocket and route.integrity == "ledger":  # its messages could not be recorded: never forwarded
            raise Forbidden(
                "this app's requests are recorded in the ledger: WebSockets are not accepted",
                log_detail=f"app {route.slug}: WebSocket to a ledger app",
            )
        # A signed app's WebSocket handshake is signed like any GET (its messages are not: see docs/integrity.md).
        if route.integrity == "ledger":
            self.ledger.check_open()
            if not self.limits_ok():
                raise ServiceUnavailable(
                    "the ledger cannot record requests now; try again shortly",
                    headers=((b"retry-after", b"2"),),
                    log_detail="redis down: ledger closed",
                )
        observer = IntegrityObserver(self, route, principal, head, assertion, content_length)
        declared = head.header(b"content-digest")
        if not chunked and not content_length:
            observer.expect(hashlib.sha256(b"").digest())
        elif declared is not None:
            digest = parse_content_digest(declared.decode("latin-1"))
            if digest is None:
                raise BadRequest("Content-Digest must state a sha-256 digest (RFC 9530)")
            observer.expect(digest)
        return observer  # without a digest yet: ``attach`` reads the body whole to compute it

    async def read_whole(self, front: Conversation, declared: int | None) -> bytes:
        reader = RequestBody(front, self.buffer_bytes, self.read_timeout, declared)
        pieces = []
        try:
            while (piece := await reader.next()) is not None:
                pieces.append(piece)
        except PayloadTooLarge:
            raise PayloadTooLarge(
                f"a body over {self.buffer_bytes} bytes needs a Content-Digest header (RFC 9530, sha-256) for this app"
            ) from None
        except ClientGone:
            from gateway.proxy import ClientDisconnected  # the proxy's error type; imported late (no cycle)

            raise ClientDisconnected() from None
        return b"".join(pieces)


class IntegrityObserver:
    """The proxy's ``ExchangeObserver`` for one request to a signed or ledger app (the module docstring)."""

    __slots__ = (
        "plane",
        "route",
        "principal",
        "head",
        "assertion",
        "content_length",
        "started",
        "expected",
        "request_hash",
        "response_hash",
        "status",
        "receipt",
        "proven",
        "digest_header",
        "sent",
        "recorded",
        "owes_receipt",
    )

    def __init__(
        self,
        plane: IntegrityPlane,
        route: Route,
        principal: Principal,
        head: RequestHead,
        assertion: str = "",
        content_length: int | None = None,
    ) -> None:
        self.plane, self.route, self.principal, self.head = plane, route, principal, head
        self.assertion, self.content_length = assertion, content_length
        self.started = time.perf_counter()
        self.expected = b""
        self.digest_header = ""
        self.request_hash = hashlib.sha256()
        self.response_hash = hashlib.sha256()
        self.status = 0
        self.receipt: ChainedReceipt | None = None
        self.proven: ProvenReceipt | None = None
        self.sent = False  # the request head went upstream: the app may act on it from here on
        self.recorded = False  # a receipt was asked for (whether or not it could be written)
        self.owes_receipt = False  # counted by the ledger writer as a receipt to come (``LedgerWriter.expect``)

    @property
    def keeps_receipts(self) -> bool:
        return self.route.integrity == "ledger"

    def expect(self, digest: bytes) -> None:
        self.expected, self.digest_header = digest, format_content_digest(digest)

    async def attach(self, front: Front) -> Front:
        """The front the proxy talks to: the body replayed when it had to be read to compute its digest, the
        response held until its receipt is durable for a ledger app."""
        body = None
        if not self.digest_header:
            body = await self.plane.read_whole(front, self.content_length)
            self.expect(hashlib.sha256(body).digest())
        if body is None and not self.keeps_receipts:
            return front
        if self.keeps_receipts:
            self.owes_receipt = True
            self.plane.ledger.expect()
        return IntegrityFront(self, front, body, self.plane.hold_bytes if self.keeps_receipts else None)

    def done(self) -> None:
        """The exchange is over (``gateway.pipeline.serve``, whatever happened): no receipt is to come any more."""
        self._settle()

    def _settle(self) -> None:
        if self.owes_receipt:
            self.owes_receipt = False
            self.plane.ledger.unexpect()

    def upstream_headers(self, method: str, target_uri: str, assertion: str, request_id: str) -> list[tuple[str, str]]:
        return self.plane.signer.build_headers(method, target_uri, assertion, request_id, self.digest_header)

    # gateway.proxy.ExchangeObserver
    def request_head(self, exchange: Exchange, headers: list[tuple[str, str]]) -> None:
        forwarded = {
            name.lower(): value for name, value in headers if name.lower() in ("x-forwarded-proto", "x-forwarded-host")
        }
        self.sent = True
        head = exchange.head
        target = f"{forwarded['x-forwarded-proto']}://{forwarded['x-forwarded-host']}{exchange.upstream_path}"
        target += "?" + head.query.decode("latin-1") if head.query else ""
        headers[:] = [pair for pair in headers if pair[0].lower() not in DROPPED_REQUEST_HEADERS]
        headers += self.upstream_headers(head.method, target, self.assertion, head.request_id)

    def request_chunk(self, chunk: bytes) -> None:
        self.request_hash.update(chunk)

    def request_end(self) -> None:
        if self.request_hash.digest() != self.expected:
            raise BadRequest(
                "the request body does not match its Content-Digest",
                log_detail=f"app {self.route.slug}: body digest mismatch; upstream request cut",
            )

    def response_head(self, status: int, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status

    def response_chunk(self, chunk: bytes) -> None:
        if self.keeps_receipts:
            self.response_hash.update(chunk)

    def finished(self, outcome: str | None) -> None:
        if outcome is not None and self.keeps_receipts and self.sent and not self.recorded:
            self.recorded = True
            self.plane.record_later(self._build_receipt(outcome))
        self._settle()

    def unanswered(self, status: int) -> None:
        self.status = status
        self.finished("no-response")

    async def complete(self) -> ChainedReceipt | None:
        if not self.keeps_receipts:
            return None
        self.recorded = True
        receipt = self._build_receipt(None)
        self._settle()
        proven = await self.plane.ledger.record(receipt)
        self.proven, self.receipt = proven, proven.link  # its Gerbang-Receipt is encoded only if a header carries it
        return self.receipt

    def _build_receipt(self, outcome: str | None) -> Receipt:
        head = self.head
        return Receipt(
            request_id=head.request_id,
            at_ms=int(time.time() * 1000),
            app=self.route.slug,
            client_id=self.principal.client_id,
            sub=self.principal.sub,
            method=head.method,
            path=head.path,
            query_digest=hashlib.sha256(head.query).hexdigest() if head.query else _EMPTY_DIGEST,
            request_digest=self.expected.hex(),
            status=self.status,
            response_digest=self.response_hash.hexdigest(),
            duration_us=int((time.perf_counter() - self.started) * 1e6),
            outcome=outcome,
        )


class IntegrityFront:
    """The client's front as the proxy sees it for a signed or ledger app.

    ``body``: the request body already read (to compute its digest), replayed as one piece. ``hold_bytes`` (a
    ledger app): the response is held, up to that size, until its receipt is durable, then sent with
    ``Gerbang-Receipt``; a larger one streams, its last piece held back until the receipt is durable (the client
    fetches the receipt by request id). When the receipt cannot be written a held response becomes a 503 (raised
    to the pipeline, which answers it), a streaming one is cut short (the client sees a truncation).
    """

    __slots__ = ("observer", "front", "body", "hold_bytes", "start", "held", "held_size")

    def __init__(self, observer: IntegrityObserver, front: Front, body: bytes | None, hold_bytes: int | None) -> None:
        self.observer, self.front, self.body, self.hold_bytes = observer, front, body, hold_bytes
        self.start: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self.held: list[bytes] = []
        self.held_size = 0

    async def read_body(self) -> tuple[bytes, bool]:
        if self.body is not None:
            body, self.body = self.body, None
            return body, False
        return await self.front.read_body()

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]], flush: bool = True) -> None:
        if self.hold_bytes is None:
            await self.front.start_response(status, headers, flush)
            return
        self.start = (status, headers)

    async def send_body(self, data: bytes, more: bool) -> None:
        if self.hold_bytes is None:
            await self.front.send_body(data, more)
            return
        if more:
            if self.start is None:  # streaming already
                await self.front.send_body(data, True)
                return
            self.held.append(data)
            self.held_size += len(data)
            if self.held_size > self.hold_bytes:  # too large to hold: stream it, the last piece still waits
                await self._flush()
            return
        try:
            await self.observer.complete()
        except ServiceUnavailable:
            if self.start is not None:
                raise  # nothing sent yet: the pipeline answers 503
            self.front.abort()  # the last bytes are never sent: the client sees a truncation
            return
        if self.start is not None:
            status, headers = self.start
            self.start = None
            token = self.observer.proven.token() if self.observer.proven is not None else ""
            await self.front.start_response(status, [*headers, (b"gerbang-receipt", token.encode())], flush=False)
            data = b"".join([*self.held, data])
            self.held, self.held_size = [], 0
        await self.front.send_body(data, False)

    async def _flush(self) -> None:
        assert self.start is not None
        status, headers = self.start
        self.start = None
        await self.front.start_response(status, headers, flush=False)
        held, self.held, self.held_size = self.held, [], 0
        await self.front.send_body(b"".join(held), True)

    def watch(self, on_gone: Callable[[], None]) -> None:
        self.front.watch(on_gone)

    def gone(self) -> bool:
        return self.front.gone()

    def abort(self) -> None:
        self.front.abort()

    async def send_problem(self, error: GatewayError, request_id: str, *, close: bool) -> None:
        await self.front.send_problem(error, request_id, close=close)
