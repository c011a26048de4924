"""What every limit store offers (memory, Redis, Redis with a local fallback) and the values it trades in.

A store checks all the limits of one request together and records them all or none: when any limit denies,
nothing is consumed, so a denied request does not eat another limit (an OPD's daily quota, say). A hit with
``consume=False`` only asks whether one more request would pass (failed-authentication counters are peeked on
every attempt and consumed only on a failure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from idp.throttle.gcra import MICROS, Decision, GcraParams
from idp.throttle.keys import build_key
from idp.throttle.quota import QuotaParams
from policies.limits import LimitSpec

MicroClock = Callable[[], int]  # microseconds since the epoch; tests inject their own


def system_clock_us() -> int:
    return time.time_ns() // 1000


class StoreUnavailable(Exception):
    """The shared store did not answer in time (down, frozen, failing over). The detail is for the log."""


@dataclass(frozen=True, slots=True)
class Hit:
    spec: LimitSpec
    subject: str  # the value of the spec's dimension: an IP, a client id, a user id, an OPD slug...
    consume: bool = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """One limit's answer for one request; times in seconds."""

    spec: LimitSpec
    allowed: bool
    remaining: int
    retry_after: float  # 0 when allowed
    reset: float  # until the bucket is full again / the quota window ends
    quota: int  # the burst or the quota: RateLimit-Policy's q
    window: float  # the seconds q refers to: RateLimit-Policy's w
    unavailable: bool = False  # the store could not answer and this limit fails closed


class LimitStore(Protocol):
    async def check(self, hits: Sequence[Hit]) -> list[Outcome]:
        """Decide every hit at once; all consumed or none. Raises ``StoreUnavailable`` if the store is down."""

    async def start(self) -> None:
        """At process start (lifespan): warm up; never fails because the shared store is down."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """A hit made ready for a store: its key and the algorithm's parameters."""

    key: str
    kind: str  # gcra | day | month
    params: GcraParams | QuotaParams


# Plans remembered per store. An entry costs ~540 B (the subject, the encoded key, the plan and its parameters):
# 65,536 of them were 35 MiB per store, filled in about an hour of sign-ins by subjects that never come back
# (each citizen's account and address is seen once per sign-in), and that memory stayed with the worker. What the
# cache saves (parsing a spec, encoding a key: microseconds) only counts for the subjects that come back within
# moments (a client, an OPD, an address sending many requests), and those stay in a few thousand entries.
PLANS_KEPT = 4096


class Planner:
    """Builds the plan of a hit, remembering recent ones: the hot path then skips parsing a spec and encoding a
    key. Bounded (``PLANS_KEPT``): emptied when full (a city's active subjects come back within moments)."""

    def __init__(self, prefix: str, size: int = PLANS_KEPT) -> None:
        self.prefix = prefix
        self._size = size
        self._plans: dict[tuple[int, str], tuple[LimitSpec, Plan]] = {}  # (id(spec), subject) -> plan

    def plan(self, hit: Hit) -> Plan:
        found = self._plans.get((id(hit.spec), hit.subject))
        if found is not None and found[0] is hit.spec:  # the spec itself is kept, so its id cannot be reused
            return found[1]
        if len(self._plans) >= self._size:
            self._plans.clear()
        plan = build_plan(self.prefix, hit)
        self._plans[(id(hit.spec), hit.subject)] = (hit.spec, plan)
        return plan

    def __len__(self) -> int:
        return len(self._plans)


def build_params(spec: LimitSpec) -> GcraParams | QuotaParams:
    return QuotaParams.from_spec(spec) if spec.window is not None else GcraParams.from_spec(spec)


def build_plan(prefix: str, hit: Hit) -> Plan:
    params = build_params(hit.spec)
    kind = params.window if isinstance(params, QuotaParams) else "gcra"
    return Plan(build_key(prefix, hit.spec.id, hit.subject, kind), kind, params)


def build_outcome(hit: Hit, plan: Plan, decision: Decision, window_s: int) -> Outcome:
    params = plan.params
    if isinstance(params, GcraParams):
        quota, window = params.burst, params.tolerance_us / MICROS
    else:
        quota, window = params.quota, float(window_s)
    return Outcome(
        hit.spec,
        decision.allowed,
        decision.remaining,
        decision.retry_after_us / MICROS,
        decision.reset_us / MICROS,
        quota,
        window,
    )


@dataclass(frozen=True, slots=True)
class RedisTimeouts:
    socket: float
    connect: float
    max_connections: int = 64  # per process (per node in a cluster)
