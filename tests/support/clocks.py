"""A microsecond clock tests move by hand (for the limit stores; Redis's own clock is replaced with it)."""

from __future__ import annotations


class MicroClock:
    def __init__(self, start_us: int = 1_764_262_800_000_000) -> None:
        self.now_us = start_us

    def __call__(self) -> int:
        return self.now_us

    def advance(self, seconds: float) -> None:
        self.now_us += round(seconds * 1_000_000)
