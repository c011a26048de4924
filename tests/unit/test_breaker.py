"""The circuit breaker in front of Redis, with an injected monotonic clock."""

from __future__ import annotations

from idp.throttle.breaker import Breaker


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_open_breaker_allows_one_probe_after_the_backoff_and_doubles_it_on_failure() -> None:
    clock = Monotonic()
    breaker = Breaker(backoff=1.0, max_backoff=3.0, monotonic=clock)
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.is_open and not breaker.try_acquire()
    clock.now += 1.21  # past the backoff and its jitter
    assert breaker.try_acquire() and not breaker.try_acquire()  # one probe at a time
    breaker.record_failure()
    assert 1.6 <= breaker.retry_in() <= 2.4
    clock.now += 2.41
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.retry_in() <= 3.0 * 1.2  # capped
    clock.now += 3.61
    assert breaker.try_acquire()
    breaker.record_success()
    assert not breaker.is_open and breaker.try_acquire()


def test_failures_of_calls_started_before_the_breaker_opened_do_not_extend_it() -> None:
    clock = Monotonic()
    breaker = Breaker(backoff=1.0, monotonic=clock)
    breaker.record_failure()
    opened_until = breaker.open_until
    for _ in range(50):
        breaker.record_failure()
    assert breaker.open_until == opened_until


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = Monotonic()
    breaker = Breaker(backoff=1.0, monotonic=clock)
    breaker.record_failure()
    clock.now += 1.21
    assert breaker.try_acquire()
    breaker.release_probe()
    assert breaker.try_acquire()
