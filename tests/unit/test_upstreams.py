"""gateway.upstreams: round robin, passive health, circuit breaker over a hand-moved clock."""

from __future__ import annotations

import pytest

from gateway.errors import ServiceUnavailable
from gateway.upstreams import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, TargetPool, Upstreams


class HandClock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def build_pool(count: int = 3, threshold: int = 2) -> tuple[TargetPool, HandClock]:
    clock = HandClock()
    policy = BreakerPolicy(failure_threshold=threshold, reset_seconds=10, cooloff_seconds=2)
    return TargetPool("app", tuple(f"http://t{i}" for i in range(count)), policy, clock), clock


def test_round_robin() -> None:
    pool, _ = build_pool()
    assert [pool.choose().base for _ in range(6)] == ["http://t0", "http://t1", "http://t2"] * 2


def test_failed_target_cools_off_then_returns() -> None:
    pool, clock = build_pool(threshold=5)
    target = pool.choose()
    pool.record_failure(target)
    assert {pool.choose().base for _ in range(4)} == {"http://t1", "http://t2"}
    clock.value += 2
    assert "http://t0" in {pool.choose().base for _ in range(3)}


def test_all_cooling_off_still_tries() -> None:
    pool, _ = build_pool(count=1, threshold=5)
    pool.record_failure(pool.choose())
    assert pool.choose().base == "http://t0"


def test_breaker_opens_half_opens_and_closes() -> None:
    pool, clock = build_pool(count=1, threshold=2)
    target = pool.targets[0]
    for _ in range(2):
        pool.record_failure(pool.choose())
    assert target.breaker.state == OPEN
    with pytest.raises(ServiceUnavailable):
        pool.choose()
    clock.value += 10
    assert pool.choose() is target
    assert target.breaker.state == HALF_OPEN
    with pytest.raises(ServiceUnavailable):  # one trial at a time
        pool.choose()
    pool.record_success(target)
    assert target.breaker.state == CLOSED
    assert pool.choose() is target


def test_failed_trial_reopens() -> None:
    pool, clock = build_pool(count=1, threshold=1)
    pool.record_failure(pool.choose())
    clock.value += 10
    pool.record_failure(pool.choose())
    assert pool.targets[0].breaker.state == OPEN
    clock.value += 9
    with pytest.raises(ServiceUnavailable):
        pool.choose()


def test_retry_excludes_the_failed_target() -> None:
    pool, _ = build_pool(count=2)
    first = pool.choose()
    assert pool.choose(exclude=first) is not first
    single, _ = build_pool(count=1)
    with pytest.raises(ServiceUnavailable):
        single.choose(exclude=single.choose())


def test_pool_rebuilt_when_upstreams_change() -> None:
    upstreams = Upstreams(BreakerPolicy(), clock=HandClock())
    pool = upstreams.pool("app", ("http://a",))
    assert upstreams.pool("app", ("http://a",)) is pool
    assert [t.base for t in upstreams.pool("app", ("http://b/", "http://c")).targets] == ["http://b", "http://c"]
    with pytest.raises(ServiceUnavailable):
        upstreams.pool("other", ())


def test_trial_that_never_reports_lapses() -> None:
    pool, clock = build_pool(count=1, threshold=1)
    pool.record_failure(pool.choose())
    clock.value += 10
    pool.choose()  # the trial's client leaves; nothing is recorded
    with pytest.raises(ServiceUnavailable):
        pool.choose()
    clock.value += 10
    assert pool.choose() is pool.targets[0]


def _retry_after(error: ServiceUnavailable) -> int:
    return int(dict(error.headers)[b"retry-after"])


def test_open_circuit_503_says_when_to_retry() -> None:
    pool, clock = build_pool(count=2, threshold=1)
    first, second = pool.choose(), pool.choose()
    pool.record_failure(first)
    clock.value += 4
    pool.record_failure(second)
    with pytest.raises(ServiceUnavailable) as refused:
        pool.choose()
    assert _retry_after(refused.value) == 6  # the first breaker resets 10 s after it opened
    clock.value += 5.5
    with pytest.raises(ServiceUnavailable) as refused:
        pool.choose()
    assert _retry_after(refused.value) == 1  # never 0: "retry now" would be a busy loop


def test_half_open_trial_in_flight_503_says_when_the_trial_lapses() -> None:
    pool, clock = build_pool(count=1, threshold=1)
    target = pool.choose()
    pool.record_failure(target)
    clock.value += 10
    assert pool.choose() is target  # the trial
    clock.value += 3
    with pytest.raises(ServiceUnavailable) as refused:
        pool.choose()
    assert _retry_after(refused.value) == 7
