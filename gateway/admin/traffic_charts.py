"""Server-rendered inline SVG charts for the traffic view: stacked request bars and p95 latency lines.

Charts are plain SVG with presentation attributes (no script, no inline CSS: the console's CSP allows
neither), each with a ``<title>`` and ``<desc>`` that say in words what the picture shows, so a screen
reader (and a test) reads the same numbers a person sees. Colours are told apart without red/green.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from gateway.admin.traffic_view import Series

OK, CLIENT, THROTTLED, SERVER, LINE = "#4c78a8", "#f2a93b", "#8e6bbf", "#c0392b", "#1d2733"
LEGEND = (("2xx/3xx", OK), ("4xx", CLIENT), ("429", THROTTLED), ("5xx", SERVER))


def format_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def format_count(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # Indonesian digit grouping


def build_request_chart(
    line: Series, chart_id: str, *, width: int = 240, height: int = 44, axes: bool = False
) -> Markup:
    """Requests per minute as stacked bars: 2xx/3xx, other 4xx, 429, 5xx (bottom to top)."""
    requests, client_errors, server_errors, throttled = line.totals
    peak = max(line.requests, default=0)
    title = (
        f"Permintaan per menit, {line.name}: total {format_count(requests)}, 4xx {format_count(client_errors)}, "
        f"5xx {format_count(server_errors)}, 429 {format_count(throttled)}; puncak {format_count(peak)}/menit"
    )
    left, bottom = (44, 16) if axes else (0, 0)
    plot_w, plot_h = width - left, height - bottom
    slot = plot_w / max(1, len(line.requests))
    bar = max(0.6, slot * 0.8)
    parts: list[str] = []
    for index, total in enumerate(line.requests):
        if not total:
            continue
        x = left + index * slot
        y = float(plot_h)
        layers = (
            (line.server_errors[index], SERVER),
            (line.throttled[index], THROTTLED),
            (line.client_errors[index] - line.throttled[index], CLIENT),
            (total - line.client_errors[index] - line.server_errors[index], OK),
        )
        for count, colour in reversed(layers):  # OK at the bottom
            if count <= 0:
                continue
            h = count / peak * (plot_h - 2)
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}"/>')
    if axes:
        parts.append(_axes(left, plot_w, plot_h, format_count(peak) + "/mnt", len(line.requests)))
    return _svg(chart_id, title, width, height, parts)


def build_latency_chart(
    line: Series, chart_id: str, *, width: int = 240, height: int = 44, axes: bool = False
) -> Markup:
    """p95 latency per minute as a line (gaps where a minute had no requests)."""
    values = line.p95
    peak = max((v for v in values if v is not None), default=None)
    title = (
        f"Latensi p95 per menit, {line.name}: p95 jendela {format_seconds(line.p95_total)}, "
        f"tertinggi {format_seconds(peak)}"
    )
    left, bottom = (44, 16) if axes else (0, 0)
    plot_w, plot_h = width - left, height - bottom
    parts: list[str] = []
    if peak:
        slot = plot_w / max(1, len(values))
        for run in _runs(values):
            points = [(left + (i + 0.5) * slot, plot_h - 1 - v / peak * (plot_h - 3)) for i, v in run]
            if len(points) == 1:  # a lone minute between gaps
                parts.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="1.5" fill="{LINE}"/>')
            else:
                joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                parts.append(f'<polyline points="{joined}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    if axes:
        parts.append(_axes(left, plot_w, plot_h, format_seconds(peak), len(values)))
    return _svg(chart_id, title, width, height, parts)


def build_legend() -> Markup:
    items = "".join(
        f'<span><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{colour}"/></svg> {escape(label)}</span> '
        for label, colour in LEGEND
    )
    return Markup(f'<p class="muted" aria-label="Keterangan warna">{items}</p>')


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    runs: list[list[tuple[int, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((index, value))
    return [run for run in runs if run]


def _axes(left: int, plot_w: int, plot_h: int, peak_label: str, minutes: int) -> str:
    text = 'font-size="10" fill="#5b6670" font-family="system-ui,sans-serif"'
    return (
        f'<line x1="{left}" y1="{plot_h}" x2="{left + plot_w}" y2="{plot_h}" stroke="#b8c2cc"/>'
        f'<line x1="{left}" y1="0" x2="{left}" y2="{plot_h}" stroke="#b8c2cc"/>'
        f'<text x="{left - 4}" y="10" text-anchor="end" {text}>{escape(peak_label)}</text>'
        f'<text x="{left - 4}" y="{plot_h}" text-anchor="end" {text}>0</text>'
        f'<text x="{left}" y="{plot_h + 12}" {text}>−{minutes} mnt</text>'
        f'<text x="{left + plot_w}" y="{plot_h + 12}" text-anchor="end" {text}>sekarang</text>'
    )


def _svg(chart_id: str, title: str, width: int, height: int, parts: list[str]) -> Markup:
    safe_id = escape(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{safe_id}-t" data-chart="{safe_id}">'
        f'<title id="{safe_id}-t">{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#f8fafc"/>{"".join(parts)}</svg>'
    )
