"""Fixed-window quotas for long periods (a day, a month) in the Asia/Jakarta calendar, pure and clock-injected.

An OPD's quota of N per day admits N requests between two Jakarta midnights and starts again at the next one.
The stored state is ``(window_start, count)``: a count from an earlier window counts as zero, so the answer
depends only on the clock that decides, never on when a key happens to expire. Asia/Jakarta has been UTC+7
without daylight saving since 1964, so the calendar is integer arithmetic (H. Hinnant, "chrono-compatible
low-level date algorithms") that ``limits.lua`` repeats exactly; the tests check it against ``zoneinfo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from idp.throttle.gcra import MICROS, Decision
from policies.limits import LimitSpec

JAKARTA_OFFSET_S = 7 * 3600
DAY_S = 86_400
Window = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class QuotaParams:
    quota: int
    window: Window

    @classmethod
    def from_spec(cls, spec: LimitSpec) -> QuotaParams:
        if spec.window not in ("day", "month") or spec.quota <= 0:
            raise ValueError(f"limit {spec.id!r}: a quota needs window day|month and quota > 0")
        return cls(spec.quota, spec.window)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a count of days since 1970-01-01."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def window_bounds(now_us: int, window: Window) -> tuple[int, int]:
    """The Unix seconds at which the Jakarta day or month containing ``now_us`` starts and ends."""
    days = (now_us // MICROS + JAKARTA_OFFSET_S) // DAY_S
    if window == "day":
        first, following = days, days + 1
    else:
        year, month, day = civil_from_days(days)
        first = days - day + 1
        following = days_from_civil(year + (month == 12), month % 12 + 1, 1)
    return first * DAY_S - JAKARTA_OFFSET_S, following * DAY_S - JAKARTA_OFFSET_S


def decide_quota(stored: tuple[int, int] | None, now_us: int, params: QuotaParams) -> tuple[Decision, int, int]:
    """One request against the quota; also returns the current window's start and end (Unix seconds)."""
    start, end = window_bounds(now_us, params.window)
    count = stored[1] if stored is not None and stored[0] == start else 0
    reset = end * MICROS - now_us
    if count < params.quota:
        return Decision(True, params.quota - count - 1, 0, reset, count + 1), start, end
    return Decision(False, 0, reset, reset, None), start, end
