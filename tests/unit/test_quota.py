"""Fixed-window quotas in the Asia/Jakarta calendar: windows match zoneinfo and roll over at local midnight."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from idp.throttle.gcra import MICROS
from idp.throttle.quota import QuotaParams, decide_quota, window_bounds
from policies.limits import LimitSpec

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=JAKARTA).timestamp()) * MICROS  # type: ignore[misc]


def reference_bounds(now_us: int, window: str) -> tuple[int, int]:
    local = datetime.fromtimestamp(now_us // MICROS, JAKARTA)
    if window == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
    return int(start.timestamp()), int(end.timestamp())


@given(st.integers(min_value=0, max_value=4_102_444_800 * MICROS), st.sampled_from(["day", "month"]))
def test_windows_equal_the_zoneinfo_calendar(now_us: int, window: str) -> None:
    assert window_bounds(now_us, window) == reference_bounds(now_us, window)  # type: ignore[arg-type]


def spend(params: QuotaParams, times: list[int]) -> list[bool]:
    stored = None
    answers = []
    for now in times:
        decision, start, _ = decide_quota(stored, now, params)
        if decision.allowed:
            stored = (start, decision.state)
        answers.append(decision.allowed)
    return answers


def test_daily_quota_rolls_over_at_jakarta_midnight_not_utc() -> None:
    params = QuotaParams.from_spec(LimitSpec(id="q", per="opd", window="day", quota=2))
    evening, before_midnight, midnight = at(2026, 11, 28, 20, 0), at(2026, 11, 28, 23, 59, 59), at(2026, 11, 29)
    utc_midnight = at(2026, 11, 29, 7, 0)
    assert spend(params, [evening, evening, before_midnight, midnight, midnight, midnight, utc_midnight]) == [
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]


def test_monthly_quota_rolls_over_on_the_first_including_new_year() -> None:
    params = QuotaParams.from_spec(LimitSpec(id="q", per="opd", window="month", quota=1))
    assert spend(params, [at(2026, 12, 1), at(2026, 12, 31, 23, 59), at(2027, 1, 1), at(2027, 1, 31)]) == [
        True,
        False,
        True,
        False,
    ]
    assert window_bounds(at(2028, 2, 10), "month") == (at(2028, 2, 1) // MICROS, at(2028, 3, 1) // MICROS)


def test_denied_quota_retries_after_the_window_ends() -> None:
    params = QuotaParams.from_spec(LimitSpec(id="q", per="opd", window="day", quota=1))
    decision, start, _ = decide_quota(None, at(2026, 11, 28, 23, 0), params)
    denied, _, _ = decide_quota((start, decision.state or 0), at(2026, 11, 28, 23, 0), params)
    assert not denied.allowed and denied.retry_after_us == 3600 * MICROS
