"""One request's integrity work, behind one narrow interface any forward path can call (``IntegrityObserver``).

``IntegrityPlane.begin`` runs after the rate limit, before anything is forwarded, for an app whose ``integrity`` is
``signed`` or ``ledger``; it returns ``None`` for ``none``. Then, in this order::

    observer.upstream_headers(method, target_uri, assertion, request_id)  -> headers to add upstream
    observer.request_chunk(chunk, last)       every request body piece; raises BadRequest on the last one when the
                                              body does not match the Content-Digest the client declared: the
                                              caller must not pass that piece on (the upstream sees a cut body)
    observer.response_head(status)
    observer.response_chunk(chunk)            every response body piece, before it is sent
    await observer.complete()                 before the response's last bytes go to the client: the receipt is
                                              durable when it returns (ledger); raises ServiceUnavailable if not
    observer.receipt_token                    the compact JWS for ``Gerbang-Receipt`` (after ``complete``)

The request digest must be known when the headers go out (they precede the body). A client that sends
``Content-Digest: sha-256=:…:`` (RFC 9530: the sender computes it) is streamed, its digest checked piece by
piece; without one the body is buffered up to ``buffer_bytes`` to compute it (``begin`` returns a ``receive`` that
replays it) and a larger one is refused with 413. docs/integrity.md explains the choice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive

from gateway.errors import BadRequest, Forbidden, PayloadTooLarge, ServiceUnavailable
from gateway.exchange import ClientGone, RequestBody
from gateway.integrity.http_signatures import format_content_digest, parse_content_digest
from gateway.integrity.ledger_writer import LedgerWriter
from gateway.integrity.receipts import RECEIPT_TYP, ChainedReceipt, Receipt, build_receipt_claims
from gateway.integrity.signer import RequestSigner
from gateway.model import Principal, RequestHead, Route

MODES = ("none", "signed", "ledger")
DROPPED_REQUEST_HEADERS = frozenset({"content-digest", "signature", "signature-input", "repr-digest",
                                     "want-content-digest"})


class IntegrityPlane:
    """Builds the observers: the signer, the ledger writer (None when no app uses ``ledger``) and the limits."""

    def __init__(self, signer: RequestSigner, ledger: LedgerWriter, sign_jws: Callable[..., str], issuer: str, *,
                 buffer_bytes: int, read_timeout: float, limits_ok: Callable[[], bool] = lambda: True) -> None:
        self.signer, self.ledger, self.sign_jws, self.issuer = signer, ledger, sign_jws, issuer
        self.buffer_bytes, self.read_timeout, self.limits_ok = buffer_bytes, read_timeout, limits_ok

    async def begin(self, route: Route, principal: Principal, head: RequestHead, content_length: int | None,
                    chunked: bool, receive: Receive, *,
                    websocket: bool = False) -> tuple[IntegrityObserver | None, Receive]:
        if route.integrity not in ("signed", "ledger"):
            return None, receive
        if websocket:  # a handshake could be signed, its messages not: never forward what cannot be recorded
            if route.integrity == "ledger":
                raise Forbidden("this app's requests are recorded in the ledger: WebSockets are not accepted",
                                log_detail=f"app {route.slug}: WebSocket to a ledger app")
            return None, receive
        if route.integrity == "ledger":
            self.ledger.check_open()
            if not self.limits_ok():
                raise ServiceUnavailable("the ledger cannot record requests now; try again shortly",
                                         headers=((b"retry-after", b"2"),), log_detail="redis down: ledger closed")
        observer = IntegrityObserver(self, route, principal, head)
        declared = head.header(b"content-digest")
        if not chunked and not content_length:
            observer.expect(hashlib.sha256(b"").digest())
        elif declared is not None:
            digest = parse_content_digest(declared.decode("latin-1"))
            if digest is None:
                raise BadRequest("Content-Digest must state a sha-256 digest (RFC 9530)")
            observer.expect(digest)
        else:
            body = await self._read_whole(receive, content_length)
            observer.expect(hashlib.sha256(body).digest())
            receive = _replay(body, receive)
        return observer, receive

    async def _read_whole(self, receive: Receive, declared: int | None) -> bytes:
        reader = RequestBody(receive, self.buffer_bytes, self.read_timeout, declared)
        pieces = []
        try:
            async for chunk in reader.chunks():
                pieces.append(chunk)
        except PayloadTooLarge:
            raise PayloadTooLarge(f"a body over {self.buffer_bytes} bytes needs a Content-Digest header "
                                  f"(RFC 9530, sha-256) for this app") from None
        except ClientGone:
            from gateway.proxy import ClientDisconnected  # the proxy's error type; imported late (no cycle)
            raise ClientDisconnected() from None
        return b"".join(pieces)


class IntegrityObserver:
    __slots__ = ("plane", "route", "principal", "head", "started", "expected", "request_hash", "response_hash",
                 "status", "receipt", "receipt_token", "digest_header")

    def __init__(self, plane: IntegrityPlane, route: Route, principal: Principal, head: RequestHead) -> None:
        self.plane, self.route, self.principal, self.head = plane, route, principal, head
        self.started = time.perf_counter()
        self.expected = b""
        self.digest_header = ""
        self.request_hash = hashlib.sha256()
        self.response_hash = hashlib.sha256()
        self.status = 0
        self.receipt: ChainedReceipt | None = None
        self.receipt_token: str | None = None

    @property
    def keeps_receipts(self) -> bool:
        return self.route.integrity == "ledger"

    def expect(self, digest: bytes) -> None:
        self.expected, self.digest_header = digest, format_content_digest(digest)

    def upstream_headers(self, method: str, target_uri: str, assertion: str, request_id: str) -> list[tuple[str, str]]:
        return self.plane.signer.build_headers(method, target_uri, assertion, request_id, self.digest_header)

    def request_chunk(self, chunk: bytes, last: bool) -> None:
        self.request_hash.update(chunk)
        if last and self.request_hash.digest() != self.expected:
            raise BadRequest("the request body does not match its Content-Digest",
                             log_detail=f"app {self.route.slug}: body digest mismatch; upstream request cut")

    def response_head(self, status: int) -> None:
        self.status = status

    def response_chunk(self, chunk: bytes) -> None:
        if self.keeps_receipts:
            self.response_hash.update(chunk)

    async def complete(self) -> ChainedReceipt | None:
        if not self.keeps_receipts:
            return None
        head = self.head
        receipt = Receipt(request_id=head.request_id, at_ms=int(time.time() * 1000), app=self.route.slug,
                          client_id=self.principal.client_id, sub=self.principal.sub, method=head.method,
                          path=head.path, query_digest=hashlib.sha256(head.query).hexdigest(),
                          request_digest=self.expected.hex(), status=self.status,
                          response_digest=self.response_hash.hexdigest(),
                          duration_us=int((time.perf_counter() - self.started) * 1e6))
        self.receipt = await self.plane.ledger.record(receipt)
        claims = build_receipt_claims(self.receipt, self.plane.issuer, int(time.time()))
        self.receipt_token = self.plane.sign_jws(claims, typ=RECEIPT_TYP)
        return self.receipt


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class HeldResponse:
    """The ASGI ``send`` of the current forward path for a ``ledger`` app: holds the response (up to ``hold_bytes``)
    until its receipt is durable, then sends it with ``Gerbang-Receipt``. A larger response streams, its last piece
    held back until the receipt is durable (the client fetches the receipt by request id). When the receipt cannot
    be written: a held response becomes a 503; a streaming one is cut short (the client sees a truncation)."""

    __slots__ = ("observer", "send", "hold_bytes", "start", "held", "held_size")

    def __init__(self, observer: IntegrityObserver, send: Callable[[Message], Any], hold_bytes: int) -> None:
        self.observer, self.send, self.hold_bytes = observer, send, hold_bytes
        self.start: Message | None = None
        self.held: list[bytes] = []
        self.held_size = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.observer.response_head(message["status"])
            self.start = message
            return
        chunk: bytes = message.get("body", b"")
        self.observer.response_chunk(chunk)
        if message.get("more_body", False):
            await self._pass(chunk)
            return
        try:
            await self.observer.complete()
        except ServiceUnavailable:
            if self.start is not None:
                raise  # nothing sent yet: the gateway answers 503
            return  # the last bytes are never sent: the server cuts the connection, the client sees a truncation
        if self.start is not None:
            token = self.observer.receipt_token or ""
            self.start = {**self.start, "headers": [*self.start["headers"], (b"gerbang-receipt", token.encode())]}
        await self._flush()
        await self.send({"type": "http.response.body", "body": chunk, "more_body": False})

    async def _pass(self, chunk: bytes) -> None:
        if self.start is None:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        self.held.append(chunk)
        self.held_size += len(chunk)
        if self.held_size > self.hold_bytes:  # too large to hold: stream it, the last piece still waits
            await self._flush()

    async def _flush(self) -> None:
        if self.start is None:
            return
        await self.send(self.start)
        self.start = None
        held, self.held = self.held, []
        for piece in held:
            await self.send({"type": "http.response.body", "body": piece, "more_body": True})
