"""Waiting in tests for something another process or task does: poll until it holds, fail when it never does.

No test asserts on how long a thing took; the timeout only bounds how long a broken test hangs.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something truthy, and return that; ``AssertionError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {_name(check)}")
        time.sleep(interval)


async def eventually_async(check: Callable[[], T | Awaitable[T]], timeout: float = 5.0, interval: float = 0.02) -> T:
    """``eventually`` for a test on the event loop: the tasks it waits for run while it sleeps. ``check`` may
    be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return cast(T, found)
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {_name(check)}")
        await asyncio.sleep(interval)


def _name(check: Callable[[], object]) -> str:
    code = getattr(check, "__code__", None)
    where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})" if code is not None else ""
    return getattr(check, "__qualname__", repr(check)) + where
