"""Time windows are Asia/Jakarta wall-clock time (UTC+7 all year), including windows across midnight."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.policies import policy_from, request

OFFICE_HOURS = """
apps: [{slug: app, restricted: true}]
rules:
  - id: office-hours
    effect: allow
    match:
      time: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}]
  - id: night-shift
    effect: allow
    match:
      apps: [night]
      time: [{days: [fri], start: "22:00", end: "06:00"}]
"""
apps_night = "apps: [{slug: night, restricted: true}]\n"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        ("2026-01-05T08:00:00+07:00", True),  # Monday, the first minute
        ("2026-01-05T15:59:59+07:00", True),  # the last second
        ("2026-01-05T16:00:00+07:00", False),  # the end is exclusive
        ("2026-01-05T07:59:59+07:00", False),
        ("2026-01-05T01:00:00+00:00", True),  # 01:00 UTC is 08:00 in Jakarta
        ("2026-01-05T00:59:00+00:00", False),
        ("2026-01-04T23:30:00-02:00", True),  # Sunday in UTC-2 is Monday 08:30 in Jakarta
        ("2026-01-04T20:00:00+00:00", False),  # Sunday 20:00 UTC is Monday 03:00 in Jakarta: too early
        ("2026-01-10T10:00:00+07:00", False),  # Saturday
    ],
)
def test_office_hours_in_jakarta(moment: str, allowed: bool) -> None:
    policy = policy_from(OFFICE_HOURS, apps_night)
    assert policy.decide(request(at=at(moment))).allowed is allowed


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        ("2026-01-09T22:00:00+07:00", True),  # Friday 22:00
        ("2026-01-09T23:59:00+07:00", True),
        ("2026-01-10T00:00:00+07:00", True),  # Saturday midnight: still Friday's window
        ("2026-01-10T05:59:00+07:00", True),
        ("2026-01-10T06:00:00+07:00", False),
        ("2026-01-09T03:00:00+07:00", False),  # Friday early morning belongs to Thursday's (absent) window
        ("2026-01-10T22:30:00+07:00", False),  # Saturday night: the window starts on Fridays only
        ("2026-01-09T15:30:00+00:00", True),  # 22:30 Jakarta, given in UTC
    ],
)
def test_a_window_across_midnight_belongs_to_its_start_day(moment: str, allowed: bool) -> None:
    policy = policy_from(OFFICE_HOURS, apps_night)
    assert policy.decide(request(app="night", at=at(moment))).allowed is allowed


@pytest.mark.parametrize("day", ["2026-03-29", "2026-07-01", "2026-10-25", "2026-11-01", "2026-12-31"])
def test_no_daylight_saving_shift_on_european_or_american_switch_days(day: str) -> None:
    policy = policy_from(OFFICE_HOURS, apps_night)
    utc_0059 = datetime.fromisoformat(f"{day}T00:59:00+00:00")
    weekday = (utc_0059 + timedelta(hours=7)).weekday()
    # 01:00 UTC is 08:00 WIB every day of the year
    assert policy.decide(request(at=utc_0059 + timedelta(minutes=1))).allowed is (weekday < 5)
    assert not policy.decide(request(at=utc_0059)).allowed


def test_windows_until_midnight_and_several_windows() -> None:
    policy = policy_from("""
    apps: [{slug: app, restricted: true}]
    rules:
      - id: evening-and-lunch
        effect: allow
        match:
          time:
            - {start: "18:00", end: "24:00"}
            - {days: [sat, sun], start: "11:30", end: "13:00"}
    """)
    wib = timezone(timedelta(hours=7))
    assert policy.decide(request(at=datetime(2026, 1, 5, 23, 59, tzinfo=wib))).allowed
    assert not policy.decide(request(at=datetime(2026, 1, 6, 0, 0, tzinfo=wib))).allowed
    assert policy.decide(request(at=datetime(2026, 1, 10, 12, 0, tzinfo=wib))).allowed
    assert not policy.decide(request(at=datetime(2026, 1, 9, 12, 0, tzinfo=wib))).allowed


def test_unquoted_times_stay_times_despite_yaml_1_1_sexagesimals() -> None:
    # YAML 1.1 reads an unquoted 10:30 as the integer 630; the loader keeps the text
    policy = policy_from("""
    apps: [{slug: app, restricted: true}]
    rules:
      - id: morning
        effect: allow
        match: {time: [{start: 10:30, end: 11:45}]}
    """)
    assert policy.decide(request(at=at("2026-01-05T10:30:00+07:00"))).allowed
    assert not policy.decide(request(at=at("2026-01-05T11:45:00+07:00"))).allowed


def test_a_request_time_must_carry_its_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        request(at=datetime(2026, 1, 5, 10, 0))
