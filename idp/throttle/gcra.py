"""GCRA, the generic cell rate algorithm (ITU-T I.371 §4.4.2 virtual scheduling), pure and clock-injected.

Semantics (token bucket): a limit of ``rate`` requests per ``period`` seconds with ``burst`` holds a bucket of
``burst`` tokens that refills one token every ``period / rate`` seconds (the emission interval ``T``). From a
full bucket it admits ``burst`` requests at once and then one every ``T``: over any span of ``t`` seconds at most
``burst + rate × t / period`` requests — NOT "``rate`` in any window of ``period``". A spec with ``burst = 0``
gets ``burst = rate`` (one period's worth at once).

The only state is the theoretical arrival time (TAT) of the next request, in integer microseconds, so this
module, ``limits.lua`` and the memory store compute bit-identical decisions. ``limits.lua`` mirrors
``decide_gcra`` line for line; change both together.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.limits import LimitSpec

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class GcraParams:
    interval_us: int  # emission interval T: one token every T microseconds
    tolerance_us: int  # burst × T: how far ahead of now the TAT may run
    burst: int
    period: float

    @classmethod
    def from_spec(cls, spec: LimitSpec) -> GcraParams:
        if spec.rate <= 0 or spec.period <= 0:
            raise ValueError(f"limit {spec.id!r}: a rate limit needs rate > 0 and period > 0")
        burst = spec.burst if spec.burst > 0 else spec.rate
        interval = max(1, round(spec.period * MICROS / spec.rate))
        return cls(interval, interval * burst, burst, spec.period)


@dataclass(frozen=True, slots=True)
class Decision:
    """One limit's answer; times in microseconds. ``state`` is what to store if the request goes through."""

    allowed: bool
    remaining: int
    retry_after_us: int  # 0 when allowed; else until one token is available
    reset_us: int  # until the bucket (or quota window) is full again
    state: int | None  # the new TAT (GCRA) or count (quota); None: nothing to store


def decide_gcra(tat_us: int | None, now_us: int, params: GcraParams) -> Decision:
    """Would one request at ``now_us`` conform? ``tat_us`` is the stored TAT, None when absent (full bucket)."""
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    new_tat = tat + params.interval_us
    ahead = new_tat - now_us
    if ahead <= params.tolerance_us:
        remaining = (params.tolerance_us - ahead) // params.interval_us
        return Decision(True, remaining, 0, ahead, new_tat)
    return Decision(False, 0, ahead - params.tolerance_us, tat - now_us, None)


def gcra_ttl_ms(tat_us: int, now_us: int) -> int:
    """How long a stored TAT matters: once it is in the past it equals an absent key."""
    return max(1, -(-(tat_us - now_us) // 1000))
