"""How late this process's event loop runs: a tick every ``interval`` seconds notes how long after its due time
it woke. A late tick means the loop could not run anything for that long — our own CPU work, or the process
starved of CPU by the machine.

The rate-limit store asks ``stalled(since, longer_than)`` when a Redis call times out: if the loop itself was
stalled for a large part of the call's time, Redis was not slow — this process was (measured: a worker starved
for > 0.25 s timed out on a Redis that answered in ≤ 19 ms, and the breaker then refused every sign-in). Such a
timeout gets one retry and never counts toward the breaker.

One tick costs ~20 µs: at 40 ticks a second, 0.1 % of a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from prometheus_client import Histogram

LOOP_LAG = Histogram(
    "gerbang_event_loop_lag_seconds",
    "How late the event loop ran its timer (each tick)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
NOTED = 0.002  # stalls shorter than this are ordinary scheduling


class LoopLag:
    def __init__(self, interval: float = 0.025, keep: int = 256) -> None:
        self.interval = interval
        self._stalls: deque[tuple[float, float]] = deque(maxlen=keep)  # (start, end), monotonic seconds
        self._due: float | None = None  # when the next tick should run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gerbang-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._due = None

    def stalled(self, since: float, longer_than: float) -> bool:
        """Was the loop stalled for at least ``longer_than`` seconds at a stretch since ``since`` (monotonic)?"""
        now = time.monotonic()
        if self._due is not None and now - self._due >= longer_than and now - max(self._due, since) >= longer_than:
            return True  # a stall still going on: the tick has not run yet
        for start, end in reversed(self._stalls):
            if end < since:
                break
            if min(end, now) - max(start, since) >= longer_than:
                return True
        return False

    async def _run(self) -> None:
        while True:
            self._due = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            woke = time.monotonic()
            late = woke - self._due
            LOOP_LAG.observe(max(0.0, late))
            if late >= NOTED:
                self._stalls.append((self._due, woke))
