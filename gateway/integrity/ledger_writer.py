"""The batched durable writer: every receipt waits for the transaction that holds it, receipts arriving together
share one transaction, one Merkle tree and one signed checkpoint (one signature per batch, none per receipt).

``record(receipt)`` resolves once the receipt is committed; the gateway releases the response's last bytes only
then. The writer lingers up to ``linger`` seconds (2 ms) after the first receipt of a batch so that the receipts of
the requests in flight join it (group commit), and no longer than until every ledger exchange under way has
handed its receipt over (``expect``/``unexpect``): a lone request is not delayed. A failed write fails every receipt of its batch (``ServiceUnavailable``)
and closes the ledger for ``retry_seconds``: meanwhile ``check_open`` refuses new ledger requests before they are forwarded (fail closed).

Pipelined: while one batch commits, the next is gathered, linked after it and signed (its head carried in
memory), and its transaction starts when the one before has committed; commits stay in chain order, one at a
time. The head in memory spares each transaction the head and checkpoint reads: it is read under the lock only
at start, after a failed write, and for ``shared_seconds`` after another writer (a second worker or host) was
found to have extended the chain (the seq primary key refuses a batch linked after a stale head; it is then
linked again after the head read and written once more). On SQLite a batch linked after the head in memory is
written in one hop to a thread of the writer's own (``gateway.integrity.ledger_sqlite``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.errors import ServiceUnavailable
from gateway.integrity.ledger_sqlite import SqliteAppender
from gateway.integrity.ledger_store import (
    ChainHead,
    PreparedBatch,
    Sign,
    StaleHead,
    prepare_batch,
    read_head,
    write_batch,
)
from gateway.integrity.receipts import ProvenReceipt, Receipt
from idp.clock import Clock

log = logging.getLogger("gerbang.ledger")

_Pending = tuple[Receipt, "asyncio.Future[ProvenReceipt]"]


class LedgerWriter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sign: Sign,
        clock: Clock,
        *,
        issuer: str = "",
        max_batch: int = 256,
        retry_seconds: float = 2.0,
        linger: float = 0.002,
        shared_seconds: float = 10.0,
    ) -> None:
        self._sessionmaker, self._sign, self._clock, self._issuer = sessionmaker, sign, clock, issuer
        self._max_batch, self._retry, self._linger, self._shared = max_batch, retry_seconds, linger, shared_seconds
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[None] | None = None
        self._committed: ChainHead | None = None  # the head after this writer's last commit; None: read it
        self._tip: ChainHead | None = None  # the head after the last batch prepared (committed or committing)
        self._shared_until = -float("inf")  # another writer extended the chain: read the head until then
        self._appender = SqliteAppender.for_sessionmaker(sessionmaker)  # one hop per batch on SQLite
        self._expected = 0  # ledger exchanges under way whose receipt has not been handed over yet
        self._none_expected = asyncio.Event()
        self.failed_at = -float("inf")
        self.batches = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gerbang-ledger-writer")

    async def stop(self) -> None:
        if self._task is not None:
            # Receipts already waiting are written before the database goes (bounded: a dead database must not
            # hold the shutdown; their responses were never released, so nothing delivered goes unrecorded).
            deadline = time.monotonic() + 10
            while (not self._queue.empty() or self._busy()) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            for task in (self._task, self._writing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self._task = self._writing = None
            if self._appender is not None:
                await asyncio.to_thread(self._appender.close)

    def _busy(self) -> bool:
        return self._writing is not None and not self._writing.done()

    def check_open(self) -> None:
        """Refuse (503) while the last write failed recently: nothing is forwarded that could not be recorded."""
        if time.monotonic() - self.failed_at < self._retry:
            raise ServiceUnavailable(
                "the ledger cannot record requests now; try again shortly",
                headers=((b"retry-after", b"2"),),
                log_detail="ledger write failing",
            )

    def expect(self) -> None:
        """A ledger exchange is under way: its receipt may join the batch gathering now."""
        self._expected += 1

    def unexpect(self) -> None:
        """That exchange's receipt was handed over (or it ended without one)."""
        self._expected = max(0, self._expected - 1)
        if self._expected == 0:
            self._none_expected.set()

    async def record(self, receipt: Receipt) -> ProvenReceipt:
        if self._task is None:
            raise ServiceUnavailable("the ledger is not running", log_detail="ledger writer not started")
        future: asyncio.Future[ProvenReceipt] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((receipt, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            prepared = self._prepare_ahead([receipt for receipt, _ in batch])
            if self._writing is not None:
                await asyncio.wait([self._writing])  # one commit at a time, in chain order (it never raises)
            self._writing = asyncio.create_task(self._write(batch, prepared))

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        if self._linger > 0 and self._expected > 0 and self._queue.qsize() < self._max_batch:
            # Group commit: a transaction costs the same for one receipt or a hundred; waiting a moment for
            # the receipts of requests in flight costs them that moment and saves most of the CPU. Only while
            # some are in flight: with every exchange's receipt queued, waiting would only idle (and delay a
            # lone request by the whole linger).
            self._none_expected.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._linger):
                    await self._none_expected.wait()
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def _prepare_ahead(self, receipts: list[Receipt]) -> PreparedBatch | None:
        """The batch linked after the one committing now (None when the head is unknown: the write reads it)."""
        if self._tip is None:
            return None
        try:
            prepared = prepare_batch(self._tip, receipts, self._sign, self._clock.now(), self._issuer)
        except Exception:  # the signing key failed: the write tries again and reports it
            return None
        self._tip = prepared.after
        return prepared

    async def _write(self, batch: list[_Pending], prepared: PreparedBatch | None) -> None:
        try:
            proven = await self._commit([receipt for receipt, _ in batch], prepared)
        except Exception as exc:  # the database (or the signing key) failed: every waiter learns it
            self.failed_at = time.monotonic()
            self._committed = self._tip = None  # the head is read again under the lock
            log.error("ledger write failed for %d receipts: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(
                        ServiceUnavailable("the ledger could not record this request", log_detail=repr(exc))
                    )
            return
        self.batches += 1
        for (_, future), link in zip(batch, proven, strict=True):
            if not future.done():
                future.set_result(link)

    async def _commit(self, receipts: list[Receipt], prepared: PreparedBatch | None) -> list[ProvenReceipt]:
        """One transaction; linked again after the stored head when another writer extended the chain."""
        try:
            return await self._commit_once(receipts, prepared, self._trusted_head())
        except StaleHead:
            log.info("another writer extended the ledger: reading its head under the lock for %ss", self._shared)
            self._shared_until = time.monotonic() + self._shared
            return await self._commit_once(receipts, None, None)

    def _trusted_head(self) -> ChainHead | None:
        return self._committed if time.monotonic() >= self._shared_until else None

    async def _commit_once(
        self, receipts: list[Receipt], prepared: PreparedBatch | None, head: ChainHead | None
    ) -> list[ProvenReceipt]:
        if self._appender is not None and head is not None:
            prepared = self._linked(receipts, prepared, head)
            await self._appender.write(prepared)
        else:
            async with self._sessionmaker() as session, session.begin():
                prepared = self._linked(receipts, prepared, head if head is not None else await read_head(session))
                await write_batch(session, prepared)
        self._committed = prepared.after
        return prepared.proven

    def _linked(self, receipts: list[Receipt], prepared: PreparedBatch | None, head: ChainHead) -> PreparedBatch:
        """``prepared`` when it links after ``head``, else the batch linked again after it."""
        if prepared is not None and prepared.base == head:
            return prepared
        prepared = prepare_batch(head, receipts, self._sign, self._clock.now(), self._issuer)
        self._tip = prepared.after
        return prepared
