"""The one source of time for the hub, replaceable in tests (the clock is outside our code)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, start: int | None = None) -> None:
        self.value = start if start is not None else int(time.time())

    def now(self) -> int:
        return self.value

    def advance(self, seconds: int) -> None:
        self.value += seconds
