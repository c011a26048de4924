"""An app's upstream targets: round-robin choice, passive health and one circuit breaker per target.

Passive health: a transport failure (refused, reset, timed out) puts the target out of the
rotation for ``cooloff`` seconds while another target is available. Circuit breaker
(closed → open after ``failure_threshold`` consecutive failures; open → half-open after
``reset_seconds``; half-open lets one trial request through, whose outcome closes or
re-opens it — a trial that never reports, e.g. because its client left, lapses after
``reset_seconds``): while every target's breaker is open the app answers 503 at once, without
touching the upstream, with ``Retry-After`` saying when the first breaker lets a trial through.
Time comes from an injectable monotonic clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import ServiceUnavailable

Monotonic = Callable[[], float]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    reset_seconds: float = 10.0
    cooloff_seconds: float = 2.0


class Breaker:
    """One target's circuit breaker (a small state machine over a monotonic clock)."""

    __slots__ = ("policy", "clock", "state", "failures", "opened_at", "trial_started_at")

    def __init__(self, policy: BreakerPolicy, clock: Monotonic) -> None:
        self.policy, self.clock = policy, clock
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.trial_started_at: float | None = None

    def is_available(self) -> bool:
        """Whether a request may go to this target now (without claiming the half-open trial)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            return self.clock() - self.opened_at >= self.policy.reset_seconds
        return self.trial_started_at is None or self.clock() - self.trial_started_at >= self.policy.reset_seconds

    def available_in(self) -> float:
        """Seconds until ``is_available`` turns true (0 when it already is)."""
        if self.state == CLOSED:
            return 0.0
        since = self.opened_at if self.state == OPEN else self.trial_started_at
        if since is None:
            return 0.0
        return max(0.0, since + self.policy.reset_seconds - self.clock())

    def claim(self) -> None:
        """The request chosen for this target is about to go; an open breaker past its reset turns half-open."""
        if self.state == OPEN:
            self.state = HALF_OPEN
        if self.state == HALF_OPEN:
            self.trial_started_at = self.clock()

    def record_success(self) -> None:
        self.state, self.failures, self.trial_started_at = CLOSED, 0, None

    def record_failure(self) -> None:
        self.failures += 1
        self.trial_started_at = None
        if self.state == HALF_OPEN or self.failures >= self.policy.failure_threshold:
            self.state = OPEN
            self.opened_at = self.clock()


class Target:
    __slots__ = ("base", "breaker", "down_until")

    def __init__(self, base: str, breaker: Breaker) -> None:
        self.base = base.rstrip("/")
        self.breaker = breaker
        self.down_until = 0.0


class TargetPool:
    """The targets of one app, chosen round-robin among the healthy ones."""

    def __init__(self, slug: str, bases: tuple[str, ...], policy: BreakerPolicy, clock: Monotonic) -> None:
        self.slug, self.bases, self.policy, self.clock = slug, bases, policy, clock
        self.targets = [Target(base, Breaker(policy, clock)) for base in bases]
        self.next_index = 0

    def choose(self, exclude: Target | None = None) -> Target:
        """The next target to try; raises ``ServiceUnavailable`` when every breaker is open."""
        now = self.clock()
        fallback: Target | None = None
        count = len(self.targets)
        for step in range(count):
            target = self.targets[(self.next_index + step) % count]
            if target is exclude or not target.breaker.is_available():
                continue
            if target.down_until > now:
                fallback = fallback or target
                continue
            self.next_index = (self.next_index + step + 1) % count
            target.breaker.claim()
            return target
        if fallback is None:
            # RFC 9110 §10.2.3: say when the first circuit lets a trial request through again.
            retry_after = max(1, math.ceil(min(target.breaker.available_in() for target in self.targets)))
            raise ServiceUnavailable(
                "the app's service is unavailable",
                headers=((b"retry-after", str(retry_after).encode()),),
                log_detail=f"app {self.slug}: every upstream circuit is open",
            )
        fallback.breaker.claim()
        return fallback

    def record_success(self, target: Target) -> None:
        target.breaker.record_success()
        target.down_until = 0.0

    def record_failure(self, target: Target) -> None:
        target.breaker.record_failure()
        target.down_until = self.clock() + self.policy.cooloff_seconds


class Upstreams:
    """Every app's target pool, rebuilt when the registry changes an app's upstream list."""

    def __init__(self, policy: BreakerPolicy, clock: Monotonic = time.monotonic) -> None:
        self.policy, self.clock = policy, clock
        self.pools: dict[str, TargetPool] = {}

    def pool(self, slug: str, bases: tuple[str, ...]) -> TargetPool:
        pool = self.pools.get(slug)
        if pool is None or pool.bases != bases:
            if not bases:
                raise ServiceUnavailable("the app has no upstream", log_detail=f"app {slug}: no upstreams")
            pool = self.pools[slug] = TargetPool(slug, bases, self.policy, self.clock)
        return pool
