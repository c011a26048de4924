"""The background loops' one lifecycle and error policy (idp.periodic): a failure is logged, counted, retried
with a growing delay, and never ends the loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from idp.periodic import FAILURES, Periodic
from tests.support.eventually import eventually_async


async def test_a_loop_survives_unexpected_exceptions_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(len(calls))
        if len(calls) <= 3:
            raise ZeroDivisionError("an exception nobody planned for")

    before = FAILURES.labels("flaky")._value.get()
    loop = Periodic("flaky", flaky, 0.001, first_delay=0)
    with caplog.at_level(logging.WARNING, logger="gerbang.background"):
        loop.start()
        try:
            await eventually_async(lambda: len(calls) >= 6)
        finally:
            await loop.stop()
    assert loop.failures == 3 and loop.consecutive_failures == 0  # the successes after them reset the streak
    assert FAILURES.labels("flaky")._value.get() - before == 3
    first, *again = [r for r in caplog.records if r.name == "gerbang.background"]
    assert first.exc_info is not None and "flaky failed" in first.getMessage()  # the traceback once per streak
    assert [r.exc_info for r in again] == [None, None] and "2 in a row" in again[0].getMessage()


async def test_a_loop_ends_only_when_stopped() -> None:
    ran = asyncio.Event()

    async def work() -> None:
        ran.set()
        raise RuntimeError("every run fails")

    loop = Periodic("always-failing", work, 0.001, first_delay=0)
    loop.start()
    await asyncio.wait_for(ran.wait(), 10)
    await eventually_async(lambda: loop.failures >= 3)
    task = loop._task
    assert task is not None and not task.done()
    await loop.stop()
    assert task.cancelled()


async def test_run_forever_can_be_cancelled_like_any_task() -> None:
    async def work() -> None:
        return None

    task = asyncio.create_task(Periodic("plain", work, 0.001).run_forever())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("interval", "failures", "delay"),
    [
        (2.0, 0, 2.0),
        (2.0, 1, 2.0),
        (2.0, 2, 4.0),
        (2.0, 3, 8.0),
        (2.0, 4, 8.0),
        (2.0, 30, 8.0),  # up to 4 x
        (100.0, 3, 300.0),
        (100.0, 9, 300.0),  # never more than five minutes...
        (3600.0, 5, 3600.0),  # ...unless the interval itself is longer
    ],
)
def test_the_delay_doubles_with_each_failure_in_a_row_up_to_a_ceiling(
    interval: float, failures: int, delay: float
) -> None:
    async def work() -> None:
        return None

    loop = Periodic("delay", work, interval)
    loop.consecutive_failures = failures
    assert loop.next_delay() == delay
