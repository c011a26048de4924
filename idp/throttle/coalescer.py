"""Gathers the calls made during one event-loop tick and runs them as one batch (one Redis round trip).

A request's check is queued and a flush is scheduled with ``call_soon``: every other request task that runs in
the same loop iteration adds its call to the same batch before the flush runs. A lone request pays one loop
iteration of delay, nothing more. A batch's failure fails each of its callers; a caller that stops waiting
(its deadline passed) does not disturb the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

CallT = TypeVar("CallT")
ResultT = TypeVar("ResultT")


class Coalescer(Generic[CallT, ResultT]):
    def __init__(self, run_batch: Callable[[Sequence[CallT]], Awaitable[list[ResultT]]]) -> None:
        self._run_batch = run_batch
        self._pending: list[tuple[CallT, asyncio.Future[ResultT]]] = []
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until each batch ends

    def submit(self, call: CallT) -> asyncio.Future[ResultT]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((call, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[CallT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._run_batch([call for call, _ in batch])
        except BaseException as exc:  # handed to every caller, who decides
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=False):
            if not future.done():
                future.set_result(result)
