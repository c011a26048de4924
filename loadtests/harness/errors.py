"""The one error the benchmark expects: a target that cannot be measured on this machine right now."""

from __future__ import annotations


class Unavailable(Exception):
    """A target cannot run (a tool is missing, a Gerbang command does not exist yet, a process died).

    The benchmark prints ``not available: <reason>`` for it and measures the rest.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
