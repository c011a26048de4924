"""Which app received which citizen's identity: the gateway's half of the access history ("riwayat akses").

Every time the gateway forwards a request with an ``X-Gerbang-Assertion`` naming a user, the citizen's
identity reached that app. Writing a row per request would put a database write on the hot path, so
``AccessRecorder`` keeps it in memory and ``gateway.access_writer`` writes batches in the background:

- **Dedupe**: one record per (subject, app) per ``window`` seconds. The history says "this app received
  your identity at T" where T is the first request of the window; later requests within it add nothing,
  unless they carry other claims (the app's claims or the policy releasing ``nik`` changed): that is a
  new record at once, so the history never under-states what an app received.
- **Claims**: each record names the identity claims the assertion carried (``SignedAssertion.claim_names``,
  computed when it was signed), names only, never values.
  The dedupe memory is per process: N workers may write up to N rows per window (harmless duplicates).
- **Bounded**: at most ``max_pending`` records wait for the writer. Past that (the database is down or
  too slow) new records are dropped and counted (``gerbang_access_history_dropped_total``); the dedupe
  memory keeps at most ``2 * max_pending`` keys, forgetting the oldest first (which at worst writes a
  duplicate row).

No I/O here and the clock is injected: the writer owns storage.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.model import Principal, Route
from idp.clock import Clock


class Counts(Protocol):
    """What the recorder needs of a metric: ``prometheus_client.Counter`` fits."""

    def inc(self, amount: float = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class AccessRecord:
    user_id: str
    app: str  # the app's slug
    opd: str  # the slug of the OPD that runs it
    at: int
    claims: tuple[str, ...]  # the identity claims the assertion carried (names only)


class AccessRecorder:
    def __init__(self, clock: Clock, *, window: int, max_pending: int, dropped: Counts | None = None) -> None:
        if window < 1 or max_pending < 1:
            raise ValueError("the access history window and cap must be positive")
        self._clock = clock
        self._window = window
        self._max_pending = max_pending
        self._max_tracked = 2 * max_pending
        self._dropped = dropped
        self.dropped_total = 0
        self._pending: list[AccessRecord] = []
        # (subject, app) -> when its last record was taken and with which claims, oldest first: expired keys are
        # popped from the front.
        self._seen: OrderedDict[tuple[str, str], tuple[int, tuple[str, ...]]] = OrderedDict()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, principal: Principal, route: Route, claims: tuple[str, ...]) -> None:
        """Note that ``route``'s app received ``principal``'s identity now, carrying ``claims`` (callers without a
        user are not kept)."""
        if principal.sub is None:
            return
        now = self._clock.now()
        key = (principal.sub, route.slug)
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._window and last[1] == claims:
            return
        if len(self._pending) >= self._max_pending:
            self._drop(1)
            return  # not marked as seen: the next request after a flush is recorded
        self._pending.append(AccessRecord(principal.sub, route.slug, route.opd, now, claims))
        self._seen[key] = (now, claims)
        self._seen.move_to_end(key)
        self._forget(now)

    def take(self) -> list[AccessRecord]:
        """Hand every waiting record to the writer."""
        taken, self._pending = self._pending, []
        self._forget(self._clock.now())
        return taken

    def restore(self, records: Iterable[AccessRecord]) -> None:
        """Put back a batch the writer could not store, ahead of newer records; what no longer fits is dropped."""
        records = list(records)
        room = max(0, self._max_pending - len(self._pending))
        kept = records[:room]
        self._pending[:0] = kept
        if len(records) > len(kept):
            self._drop(len(records) - len(kept))

    def _drop(self, count: int) -> None:
        self.dropped_total += count
        if self._dropped is not None:
            self._dropped.inc(count)

    def _forget(self, now: int) -> None:
        seen = self._seen
        while seen:
            key, (at, _) = next(iter(seen.items()))
            if now - at < self._window and len(seen) <= self._max_tracked:
                return
            del seen[key]
