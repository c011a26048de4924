"""The circuit breaker between a process and its shared limit store (see ``throttle.fallback_store``).

Kept apart from the Redis store so that building one does not import redis-py: a hub without
``GERBANG_REDIS_URL`` never loads it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Breaker:
    def __init__(
        self, backoff: float = 0.5, max_backoff: float = 5.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._base, self._max, self._monotonic = backoff, max_backoff, monotonic
        self._backoff = backoff
        self.open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def try_acquire(self) -> bool:
        """May this call go to the store? Closed: yes. Open: only one probe, once the backoff has passed."""
        if self.open_until is None:
            return True
        if self._probing or self._monotonic() < self.open_until:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.open_until, self._probing, self._backoff = None, False, self._base

    def record_failure(self) -> None:
        if self.open_until is not None and not self._probing:
            return  # a call that started before the breaker opened: the pause already runs
        if self._probing:
            self._backoff = min(self._max, self._backoff * 2)
        self.open_until = self._monotonic() + self._backoff * random.uniform(0.8, 1.2)
        self._probing = False

    def release_probe(self) -> None:
        """The probe was abandoned (its request cancelled) without an answer: let the next call probe."""
        self._probing = False

    def retry_in(self) -> float:
        return max(0.0, (self.open_until or 0.0) - self._monotonic()) or self._base
