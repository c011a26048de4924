"""GCRA with an injected clock: burst, steady rate, exact retry_after, the stated token-bucket semantics."""

from __future__ import annotations

import pytest

from idp.throttle.gcra import MICROS, GcraParams, decide_gcra
from policies.limits import LimitSpec

START = 1_764_262_800 * MICROS


def params(rate: int = 10, period: float = 1.0, burst: int = 5) -> GcraParams:
    return GcraParams.from_spec(LimitSpec(id="t", per="ip", rate=rate, period=period, burst=burst))


def run(p: GcraParams, times_us: list[int]) -> list[bool]:
    tat: int | None = None
    answers = []
    for now in times_us:
        decision = decide_gcra(tat, now, p)
        if decision.allowed:
            tat = decision.state
        answers.append(decision.allowed)
    return answers


def test_a_full_bucket_admits_exactly_the_burst_at_once() -> None:
    assert run(params(burst=5), [START] * 8) == [True] * 5 + [False] * 3


def test_burst_zero_means_one_period_of_requests() -> None:
    assert params(rate=7, burst=0).burst == 7


def test_steady_rate_at_the_emission_interval_is_always_admitted() -> None:
    p = params(rate=10, burst=1)
    assert run(p, [START + i * 100_000 for i in range(50)]) == [True] * 50
    assert run(p, [START + i * 99_000 for i in range(3)]) == [True, False, True]


def test_admits_burst_plus_rate_times_t_and_no_more() -> None:
    p = params(rate=10, burst=5)  # one token per 100 ms
    every_ms = [START + i * 1000 for i in range(2001)]  # a request each millisecond for 2 s
    assert sum(run(p, every_ms)) == 5 + 10 * 2


def test_retry_after_is_exact_and_honouring_it_succeeds() -> None:
    p = params(rate=10, burst=2)
    tat = None
    for _ in range(2):
        decision = decide_gcra(tat, START, p)
        tat = decision.state
    denied = decide_gcra(tat, START + 30_000, p)
    assert not denied.allowed and denied.retry_after_us == 70_000
    assert not decide_gcra(tat, START + 30_000 + denied.retry_after_us - 1, p).allowed
    assert decide_gcra(tat, START + 30_000 + denied.retry_after_us, p).allowed


def test_remaining_and_reset_count_down() -> None:
    p = params(rate=10, burst=3)
    first = decide_gcra(None, START, p)
    second = decide_gcra(first.state, START, p)
    assert (first.remaining, second.remaining) == (2, 1)
    assert (first.reset_us, second.reset_us) == (100_000, 200_000)


@pytest.mark.parametrize("rate, period", [(0, 1.0), (5, 0.0)])
def test_a_rate_limit_needs_a_rate_and_a_period(rate: int, period: float) -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        params(rate=rate, period=period)
