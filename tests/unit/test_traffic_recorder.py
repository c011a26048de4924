"""The traffic recorder: minute buckets, status classes, latency buckets and the p95 read from them."""

from __future__ import annotations

import random

import pytest

from gateway.traffic import (
    BUCKET_BASE,
    KEEP_MINUTES,
    LAST_BUCKET,
    MinuteRow,
    TrafficRecorder,
    bucket_of,
    bucket_upper,
    quantile,
)


class Clock:
    def __init__(self, start: float) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)  # 30,000,000 minutes exactly


def test_statuses_are_counted_by_class(clock: Clock) -> None:
    recorder = TrafficRecorder(clock)
    for status in (200, 204, 301, 400, 404, 429, 429, 499, 500, 502, 503):
        recorder.record("parkir", status, 0.01)
    [row] = recorder.drain()
    assert (row.minute, row.app) == (30_000_000, "parkir")
    assert (row.requests, row.client_errors, row.server_errors, row.throttled) == (11, 5, 3, 2)
    assert sum(row.buckets) == 11 and len(row.buckets) == LAST_BUCKET + 1


def test_requests_fall_into_the_minute_they_were_answered_in(clock: Clock) -> None:
    recorder = TrafficRecorder(clock)
    recorder.record("parkir", 200, 0.01)
    clock.value += 59.9
    recorder.record("parkir", 200, 0.01)
    clock.value += 0.1  # the next minute starts
    recorder.record("parkir", 200, 0.01)
    recorder.record("pajak", 500, 0.01)
    rows = {(row.minute, row.app): row.requests for row in recorder.drain()}
    assert rows == {(30_000_000, "parkir"): 2, (30_000_001, "parkir"): 1, (30_000_001, "pajak"): 1}


def test_drain_hands_over_everything_once(clock: Clock) -> None:
    recorder = TrafficRecorder(clock)
    recorder.record("parkir", 200, 0.01)
    assert len(recorder.drain()) == 1
    assert recorder.drain() == [] and recorder.pending_minutes == 0
    recorder.record("parkir", 200, 0.01)  # the same minute again: a second row the store adds to the first
    assert [row.requests for row in recorder.drain()] == [1]


def test_restore_puts_back_what_a_failed_delivery_held_and_drops_rows_past_the_retention(clock: Clock) -> None:
    recorder = TrafficRecorder(clock)
    recorder.record("parkir", 200, 0.01)
    rows = recorder.drain()
    recorder.record("parkir", 429, 0.01)
    stale = MinuteRow(30_000_000 - KEEP_MINUTES - 1, "parkir", 5, 0, 0, 0, (5,) + (0,) * LAST_BUCKET)
    recorder.restore([*rows, stale])
    [row] = recorder.drain()
    assert (row.requests, row.throttled, sum(row.buckets)) == (2, 1, 2)


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0.0, 0),
        (BUCKET_BASE, 0),
        (BUCKET_BASE * 1.01, 1),
        (BUCKET_BASE * 2, 4),
        (BUCKET_BASE * 2.01, 5),
        (1.0, 54),
        (10_000.0, LAST_BUCKET),
    ],
)
def test_latency_buckets_are_four_per_doubling_from_100_microseconds(seconds: float, bucket: int) -> None:
    assert bucket_of(seconds) == bucket


def test_every_duration_is_inside_its_bucket() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        seconds = rng.lognormvariate(-4, 2)
        index = bucket_of(seconds)
        if 0 < index < LAST_BUCKET:
            assert bucket_upper(index - 1) < seconds * (1 + 1e-12) and seconds <= bucket_upper(index) * (1 + 1e-12)


def test_recorder_and_bucket_of_agree(clock: Clock) -> None:
    recorder = TrafficRecorder(clock)
    durations = [0.00005, 0.0003, 0.02, 0.7, 3.0, 500.0]
    for seconds in durations:
        recorder.record("parkir", 200, seconds)
    [row] = recorder.drain()
    assert [i for i, count in enumerate(row.buckets) if count] == [bucket_of(s) for s in durations]


def test_p95_is_within_one_bucket_of_the_true_value(clock: Clock) -> None:
    rng = random.Random(11)
    durations = sorted(rng.lognormvariate(-3.5, 0.8) for _ in range(5000))
    recorder = TrafficRecorder(clock)
    for seconds in durations:
        recorder.record("parkir", 200, seconds)
    [row] = recorder.drain()
    true_p95 = durations[int(0.95 * len(durations)) - 1]
    estimate = quantile(row.buckets, 0.95)
    assert estimate is not None
    assert true_p95 / 2**0.25 <= estimate <= true_p95 * 2**0.25


def test_quantile_of_nothing_is_none_and_of_one_bucket_is_inside_it() -> None:
    assert quantile([0] * (LAST_BUCKET + 1), 0.95) is None
    buckets = [0] * (LAST_BUCKET + 1)
    buckets[20] = 10
    assert bucket_upper(19) < (quantile(buckets, 0.95) or 0) <= bucket_upper(20)
    buckets = [0] * (LAST_BUCKET + 1)
    buckets[0] = 3
    assert quantile(buckets, 0.5) == BUCKET_BASE
