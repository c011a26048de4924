"""Limits kept in this process: the embedded default (no Redis) and the local fallback when Redis fails.

The same decisions as ``limits.lua`` (same GCRA, same Jakarta calendar, same all-or-nothing rule), computed
by the pure functions in ``throttle.gcra`` and ``throttle.quota``. Only one process sees these counters: with
several workers each enforces the full limit on its own share of the traffic.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from idp.throttle.gcra import MICROS, Decision, GcraParams, decide_gcra, gcra_ttl_ms
from idp.throttle.quota import decide_quota
from idp.throttle.store import Hit, MicroClock, Outcome, Plan, Planner, build_outcome, system_clock_us

SWEEP_EVERY = 4096  # checks between sweeps of expired entries
# Live keys are bounded too: a flood of distinct subjects (random account names, many addresses) would otherwise
# grow the dict for a whole period (15 minutes for login limits). Past the bound the least recently written keys
# go first (their subjects start again from a full bucket); ~260 B per key (measured): 200,000 keys ≈ 50 MiB.
MAX_ENTRIES = 200_000


class MemoryStore:
    def __init__(
        self, prefix: str = "gerbang", clock: MicroClock = system_clock_us, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.prefix = prefix
        self._planner = Planner(prefix)
        self._clock = clock
        self._entries: dict[str, tuple[object, int]] = {}  # key -> (state, expires at µs), least recent first
        self._checks = 0
        self._max_entries = max_entries

    async def check(self, hits: Sequence[Hit]) -> list[Outcome]:
        return self.check_now(hits)

    def check_now(self, hits: Sequence[Hit]) -> list[Outcome]:
        """Synchronous: nothing here waits, so a call is atomic on the event loop."""
        now = self._clock()
        outcomes: list[Outcome] = []
        writes: list[tuple[str, object, int]] = []
        for hit in hits:
            plan = self._planner.plan(hit)
            decision, window, write = self._decide(plan, self._load(plan.key, now), now)
            outcomes.append(build_outcome(hit, plan, decision, window))
            if hit.consume and write is not None:
                writes.append(write)
        if all(outcome.allowed for outcome in outcomes):
            for key, state, expires in writes:
                self._entries.pop(key, None)  # re-inserted last: the dict's order is the order of last writes
                self._entries[key] = (state, expires)
            if len(self._entries) > self._max_entries:
                self._evict(now)
        self._sweep(now)
        return outcomes

    def _evict(self, now: int) -> None:
        """Over the bound: expired entries go first, then the least recently written, down to 90 %."""
        self._remove_expired(now)
        excess = len(self._entries) - self._max_entries * 9 // 10
        if excess > 0:
            for key in list(itertools.islice(self._entries, excess)):
                del self._entries[key]

    @staticmethod
    def _decide(plan: Plan, state: object, now: int) -> tuple[Decision, int, tuple[str, object, int] | None]:
        """The decision, the quota window's length and the entry to store if every limit passes."""
        if isinstance(plan.params, GcraParams):
            decision = decide_gcra(state if isinstance(state, int) else None, now, plan.params)
            if decision.state is None:
                return decision, 0, None
            return decision, 0, (plan.key, decision.state, now + gcra_ttl_ms(decision.state, now) * 1000)
        stored = state if isinstance(state, tuple) else None
        decision, start, end = decide_quota(stored, now, plan.params)
        if decision.state is None:
            return decision, end - start, None
        return decision, end - start, (plan.key, (start, decision.state), end * MICROS)

    async def start(self) -> None:
        """Nothing to warm up (the same interface as the Redis-backed store)."""

    async def close(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self, key: str, now: int) -> object:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def _sweep(self, now: int) -> None:
        self._checks += 1
        if self._checks % SWEEP_EVERY == 0:
            self._remove_expired(now)

    def _remove_expired(self, now: int) -> None:
        for key in [key for key, (_, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
