"""Background loops: one lifecycle and one error policy for every job that runs every few seconds.

``Periodic(name, work, interval)`` calls ``work`` every ``interval`` seconds in a task from ``start()`` until
``stop()``. An exception from ``work`` never ends the loop: it is logged (the first of a streak with its
traceback), counted in ``gerbang_background_failures_total{loop=name}``, and the next try waits longer —
the interval doubles with each consecutive failure, up to ``max(interval, min(4 × interval, 300 s))`` — then
returns to ``interval`` after a success. Cancellation (``stop``, or cancelling ``run_forever``) is the only
way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

log = logging.getLogger("gerbang.background")

FAILURES = Counter("gerbang_background_failures_total", "Failed runs of a background loop (each one retried)", ["loop"])
MAX_BACKOFF_SECONDS = 300.0


class Periodic:
    """``work`` every ``interval`` seconds; ``first_delay`` (default ``interval``) before the first run."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        interval: float,
        *,
        first_delay: float | None = None,
        on_failure: str = "trying again later",
    ) -> None:
        self.name, self.interval = name, interval
        self.first_delay = interval if first_delay is None else first_delay
        self.on_failure = on_failure  # what a failure means to the reader of the log ("keeping the last list")
        self.failures = 0  # since start, for tests and operators (the counter is per process)
        self.consecutive_failures = 0
        self._work = work
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever(), name=f"gerbang-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_forever(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            await self.run_once()
            await asyncio.sleep(self.next_delay())

    async def run_once(self) -> bool:
        """One run under the error policy; False when ``work`` raised."""
        try:
            await self._work()
        except Exception as exc:
            self.failures += 1
            self.consecutive_failures += 1
            FAILURES.labels(self.name).inc()
            if self.consecutive_failures == 1:
                log.warning("%s failed (%s)", self.name, self.on_failure, exc_info=True)
            else:
                log.warning(
                    "%s failed again (%d in a row: %r; %s)", self.name, self.consecutive_failures, exc, self.on_failure
                )
            return False
        self.consecutive_failures = 0
        return True

    def next_delay(self) -> float:
        """``interval``, doubled for each consecutive failure up to the backoff ceiling."""
        if self.consecutive_failures == 0:
            return self.interval
        ceiling = max(self.interval, min(4 * self.interval, MAX_BACKOFF_SECONDS))
        return min(self.interval * 2 ** (self.consecutive_failures - 1), ceiling)
