"""The traffic charts as SVG text: accessible titles with the numbers, stacked bars by status class, gaps in the
p95 line, names escaped; and the view's filter checks."""

from __future__ import annotations

import re

import pytest

from gateway.admin.traffic_charts import SERVER, THROTTLED, build_latency_chart, build_request_chart, format_seconds
from gateway.admin.traffic_view import Series, check_traffic_filter
from gateway.errors import BadRequest


def series(name: str = "Parkir", minutes: int = 4) -> Series:
    return Series(
        "parkir",
        name,
        "dishub",
        "Dinas Perhubungan",
        [0] * minutes,
        [0] * minutes,
        [0] * minutes,
        [0] * minutes,
        [None] * minutes,
    )


def test_request_chart_stacks_status_classes_and_says_the_numbers() -> None:
    line = series()
    line.requests[1:3] = [10, 4]
    line.client_errors[1], line.throttled[1], line.server_errors[2] = 3, 2, 4
    svg = build_request_chart(line, "c")
    assert 'role="img"' in svg and 'aria-labelledby="c-t"' in svg
    title = re.search(r"<title id=\"c-t\">(.*?)</title>", svg)
    assert title and title.group(1) == ("Permintaan per menit, Parkir: total 14, 4xx 3, 5xx 4, 429 2; puncak 10/menit")
    # minute 1: 7 OK, 1 other 4xx, 2 throttled (4xx includes 429); minute 2: 4 server errors
    assert len(re.findall(r"<rect x=", svg)) == 4
    assert svg.count(f'fill="{THROTTLED}"') == 1 and svg.count(f'fill="{SERVER}"') == 1
    heights: dict[str, float] = {}
    for x, height in re.findall(r'<rect x="([^"]+)" y="[^"]+" width="[^"]+" height="([^"]+)"', svg):
        heights[x] = heights.get(x, 0) + float(height)
    assert sorted(heights.values()) == pytest.approx([42 * 4 / 10, 42], abs=0.2)  # the busiest minute fills it


def test_latency_chart_draws_runs_and_leaves_gaps() -> None:
    line = series(minutes=6)
    line.p95 = [0.01, 0.02, None, 0.5, None, None]
    svg = build_latency_chart(line, "l")
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert "tertinggi 500 ms" in svg


def test_an_empty_series_is_an_empty_frame_with_a_title() -> None:
    svg = build_request_chart(series(), "e") + build_latency_chart(series(), "f")
    assert "total 0" in svg and "tertinggi –" in svg and "<polyline" not in svg


def test_names_are_escaped() -> None:
    svg = build_request_chart(series(name="<script>alert(1)</script>"), 'x"><script>')
    assert "<script>" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize(("seconds", "text"), [(None, "–"), (0.0042, "4.2 ms"), (0.25, "250 ms"), (3.0, "3.00 s")])
def test_durations_read_as_people_write_them(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("opd", "minutes"), [("\x00", 60), ("Dishub", 60), ("a" * 65, 60), ("dishub", 4), ("dishub", 181), ("-dishub", 60)]
)
def test_bad_filters_are_refused(opd: str, minutes: int) -> None:
    with pytest.raises(BadRequest):
        check_traffic_filter(opd, minutes)


def test_good_filters_pass() -> None:
    check_traffic_filter(None, 5)
    check_traffic_filter("kec-ilir-barat-1", 180)
