"""The batched durable writer: every receipt waits for the transaction that holds it, receipts arriving together
share one transaction, one Merkle tree and one signed checkpoint (one signature per batch, none per receipt).

``record(receipt)`` resolves once the receipt is committed; the gateway releases the response's last bytes only
then. The writer lingers ``linger`` seconds (2 ms) after the first receipt of a batch so that the receipts of the
requests in flight join it (group commit). A failed write fails every receipt of its batch (``ServiceUnavailable``)
and closes the ledger for ``retry_seconds``: meanwhile ``check_open`` refuses new ledger requests before they are forwarded (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.errors import ServiceUnavailable
from gateway.integrity.ledger_store import Sign, append_receipts
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
    ) -> None:
        self._sessionmaker, self._sign, self._clock, self._issuer = sessionmaker, sign, clock, issuer
        self._max_batch, self._retry, self._linger = max_batch, retry_seconds, linger
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
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
            while not self._queue.empty() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def check_open(self) -> None:
        """Refuse (503) while the last write failed recently: nothing is forwarded that could not be recorded."""
        if time.monotonic() - self.failed_at < self._retry:
            raise ServiceUnavailable(
                "the ledger cannot record requests now; try again shortly",
                headers=((b"retry-after", b"2"),),
                log_detail="ledger write failing",
            )

    async def record(self, receipt: Receipt) -> ProvenReceipt:
        if self._task is None:
            raise ServiceUnavailable("the ledger is not running", log_detail="ledger writer not started")
        future: asyncio.Future[ProvenReceipt] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((receipt, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger > 0 and self._queue.qsize() < self._max_batch:
                # Group commit: a transaction costs the same for one receipt or a hundred; waiting a moment for
                # the receipts of requests in flight costs them that moment and saves most of the CPU.
                await asyncio.sleep(self._linger)
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                proven = await append_receipts(
                    session, [receipt for receipt, _ in batch], self._sign, self._clock.now(), self._issuer
                )
        except Exception as exc:  # the database (or the signing key) failed: every waiter learns it
            self.failed_at = time.monotonic()
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
