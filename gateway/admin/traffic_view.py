"""The console's traffic view: the stored per-minute sums (``gateway.traffic_store``) per OPD and per app,
narrowed to what the caller may see, for the page ``/admin/lalu-lintas`` and ``GET /admin/api/traffic``.

An app's traffic belongs to the OPD unit that owns the app; an OPD admin sees the apps of their subtree, an
operator those of their own unit, Kominfo everything (and the requests no route matched, as app "-").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin.actor import Actor, check_sees
from gateway.admin.scope_clauses import build_scope_clause
from gateway.errors import BadRequest
from gateway.traffic import LAST_BUCKET, quantile
from gateway.traffic_store import Grouping, sum_counts, sum_histograms
from idp.org import load_opd
from idp.storage.gateway_models import App
from idp.storage.models import OpdUnit

UNROUTED = "-"  # what GatewayMetrics records when no app matched the request
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
WINDOWS = (15, 60, 180)  # minutes the page offers; the API accepts any whole number in MINUTES_RANGE
MINUTES_RANGE = (5, 180)
OPD_ROWS = 30  # OPD lines drawn with per-minute charts (the busiest; the filter narrows to one subtree)


@dataclass
class Series:
    """One line of the view: totals over the window and one value per minute (oldest first)."""

    key: str
    name: str
    opd: str
    opd_name: str
    requests: list[int]
    client_errors: list[int]
    server_errors: list[int]
    throttled: list[int]
    p95: list[float | None]
    buckets: list[int] = field(default_factory=lambda: [0] * (LAST_BUCKET + 1))  # over the window
    minute_buckets: dict[int, dict[int, int]] = field(default_factory=dict)  # minute index -> histogram

    @property
    def totals(self) -> tuple[int, int, int, int]:
        return sum(self.requests), sum(self.client_errors), sum(self.server_errors), sum(self.throttled)

    @property
    def p95_total(self) -> float | None:
        return quantile(self.buckets, 0.95)

    def as_json(self) -> dict[str, Any]:
        requests, client_errors, server_errors, throttled = self.totals
        return {
            "slug": self.key,
            "name": self.name,
            "opd": self.opd,
            "opd_name": self.opd_name,
            "requests": requests,
            "client_errors": client_errors,
            "server_errors": server_errors,
            "throttled": throttled,
            "p95_seconds": _round(self.p95_total),
            "per_minute": {
                "requests": self.requests,
                "client_errors": self.client_errors,
                "server_errors": self.server_errors,
                "throttled": self.throttled,
                "p95_seconds": [_round(v) for v in self.p95],
            },
        }


@dataclass
class TrafficView:
    first_minute: int  # UNIX seconds // 60
    minutes: int
    total: Series
    opds: list[Series]
    apps: list[Series]  # the page of apps, busiest first
    more_apps: bool
    opd: str | None  # the filter
    opd_count: int = 0  # OPD units with traffic (``opds`` holds the busiest OPD_ROWS of them)

    def as_json(self, offset: int, limit: int) -> dict[str, Any]:
        return {
            "from": self.first_minute * 60,
            "to": (self.first_minute + self.minutes) * 60,
            "minutes": self.minutes,
            "opd": self.opd,
            "total": self.total.as_json(),
            "opds": [s.as_json() for s in self.opds],
            "opd_count": self.opd_count,
            "apps": [s.as_json() for s in self.apps],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if self.more_apps else None,
        }


def check_traffic_filter(opd: str | None, minutes: int) -> None:
    """Bad filters are refused before anything is read (a NUL or an odd character never reaches SQL)."""
    if opd is not None and not SLUG.fullmatch(opd):
        raise BadRequest("'opd' must be an OPD slug (lowercase letters, digits and hyphens)")
    if not MINUTES_RANGE[0] <= minutes <= MINUTES_RANGE[1]:
        raise BadRequest(f"'minutes' must be a whole number from {MINUTES_RANGE[0]} to {MINUTES_RANGE[1]}")


async def load_traffic_view(
    session: AsyncSession,
    actor: Actor,
    now: int,
    *,
    opd: str | None,
    minutes: int = 60,
    offset: int = 0,
    limit: int = 50,
) -> TrafficView:
    """Totals for every visible app and OPD; per-minute series only for the lines shown (summed in SQL)."""
    check_traffic_filter(opd, minutes)
    last = now // 60
    first = last - minutes + 1
    apps = await _load_visible_apps(session, actor, opd)
    everything = actor.kominfo and opd is None
    if everything:
        apps[UNROUTED] = ("(tanpa rute: alamat tidak dikenal)", UNROUTED, "(tanpa OPD)")
    scope = None if everything else list(apps)
    per_app = await sum_counts(session, first, last, by="app", per_minute=False, apps=scope)
    app_totals = {key[0]: counts for key, counts in per_app.items() if key[0] in apps}
    opd_totals = _sum_by_opd(app_totals, apps)
    ranked_apps = sorted(app_totals, key=lambda slug: (-app_totals[slug][0], slug))
    ranked_opds = sorted(opd_totals, key=lambda slug: (-opd_totals[slug][0], slug))
    shown_apps, shown_opds = ranked_apps[offset : offset + limit], ranked_opds[:OPD_ROWS]
    opd_names = {unit_slug: unit_name for _, unit_slug, unit_name in apps.values()}

    total = _empty("total", "Semua", "", "", minutes)
    _fill(total, (await _series(session, first, last, "all", apps=scope)).get(None, _NO_SERIES), first)
    app_lines = [_empty(slug, *apps[slug], minutes) for slug in shown_apps]
    app_series = await _series(session, first, last, "app", apps=shown_apps) if shown_apps else {}
    for line in app_lines:
        _fill(line, app_series.get(line.key, _NO_SERIES), first)
    opd_lines = [_empty(slug, opd_names[slug], slug, opd_names[slug], minutes) for slug in shown_opds]
    named = [slug for slug in shown_opds if slug != UNROUTED]
    # Narrowed by app too: the (app, minute) index then finds the rows, not a join over the whole hour.
    owned = [slug for slug, (_, unit_slug, _) in apps.items() if unit_slug in named]
    opd_series = await _series(session, first, last, "opd", apps=owned, opds=named) if named else {}
    if UNROUTED in shown_opds:
        opd_series[UNROUTED] = (await _series(session, first, last, "app", apps=[UNROUTED])).get(UNROUTED, _NO_SERIES)
    for line in opd_lines:
        _fill(line, opd_series.get(line.key, _NO_SERIES), first)
    return TrafficView(
        first,
        minutes,
        _finish(total),
        [_finish(line) for line in opd_lines],
        [_finish(line) for line in app_lines],
        len(ranked_apps) > offset + limit,
        opd,
        opd_count=len(ranked_opds),
    )


SeriesRows = tuple[dict[int, list[int]], dict[int, dict[int, int]]]  # minute -> counts, minute -> histogram
_NO_SERIES: SeriesRows = ({}, {})


async def _load_visible_apps(session: AsyncSession, actor: Actor, opd: str | None) -> dict[str, tuple[str, str, str]]:
    """slug -> (name, OPD slug, OPD name) of every app the caller may see, inside ``opd``'s subtree if given."""
    app, unit = App.__table__.c, OpdUnit.__table__.c  # Core columns: 2,000 plain rows, no ORM loading
    query = (
        select(app.slug, app.name, unit.slug, unit.name)
        .join_from(App.__table__, OpdUnit.__table__)
        .where(build_scope_clause(actor, OpdUnit.path))
    )
    if opd is not None:
        root = await load_opd(session, opd)
        check_sees(actor, root.path)  # an OPD admin filters inside their subtree, never above it
        query = query.where(OpdUnit.path.startswith(root.path, autoescape=True))
    return {slug: (name, unit_slug, unit_name) for slug, name, unit_slug, unit_name in await session.execute(query)}


def _sum_by_opd(app_totals: dict[str, list[int]], apps: dict[str, tuple[str, str, str]]) -> dict[str, list[int]]:
    sums: dict[str, list[int]] = {}
    for slug, counts in app_totals.items():
        into = sums.setdefault(apps[slug][1], [0, 0, 0, 0])
        for index, value in enumerate(counts):
            into[index] += value
    return sums


async def _series(
    session: AsyncSession,
    first: int,
    last: int,
    by: Grouping,
    *,
    apps: list[str] | None = None,
    opds: list[str] | None = None,
) -> dict[Any, SeriesRows]:
    """Per-minute counts and histograms, keyed by app or OPD slug (the key is None for ``by="all"``)."""
    counts = await sum_counts(session, first, last, by=by, per_minute=True, apps=apps, opds=opds)
    histograms = await sum_histograms(session, first, last, by=by, per_minute=True, apps=apps, opds=opds)
    found: dict[Any, SeriesRows] = {}
    for key, values in counts.items():
        found.setdefault(key[0] if by != "all" else None, ({}, {}))[0][int(key[-1])] = values
    for key, histogram in histograms.items():
        found.setdefault(key[0] if by != "all" else None, ({}, {}))[1][int(key[-1])] = histogram
    return found


async def list_visible_units(session: AsyncSession, actor: Actor) -> list[tuple[str, str, int]]:
    """(slug, name, depth) of every OPD unit the caller may filter by, in tree order."""
    rows = await session.execute(
        select(OpdUnit.slug, OpdUnit.name, OpdUnit.path)
        .where(build_scope_clause(actor, OpdUnit.path))
        .order_by(OpdUnit.path)
    )
    return [(slug, name, path.strip("/").count("/")) for slug, name, path in rows.all()]


def _empty(key: str, name: str, opd: str, opd_name: str, minutes: int) -> Series:
    return Series(
        key, name, opd, opd_name, [0] * minutes, [0] * minutes, [0] * minutes, [0] * minutes, [None] * minutes
    )


def _fill(line: Series, series: SeriesRows, first: int) -> None:
    """Put one line's stored minutes into place (minute index = minute - first)."""
    counts, histograms = series
    minutes = len(line.requests)
    for minute, (requests, client_errors, server_errors, throttled) in counts.items():
        index = minute - first
        if 0 <= index < minutes:
            line.requests[index] += requests
            line.client_errors[index] += client_errors
            line.server_errors[index] += server_errors
            line.throttled[index] += throttled
    for minute, histogram in histograms.items():
        index = minute - first
        if 0 <= index < minutes:
            merged = line.minute_buckets.setdefault(index, {})
            for bucket, count in histogram.items():
                merged[bucket] = merged.get(bucket, 0) + count
                line.buckets[bucket] += count


def _finish(line: Series) -> Series:
    """The p95 of each minute, from the merged histograms (only for the lines shown)."""
    for index, buckets in line.minute_buckets.items():
        dense = [0] * (LAST_BUCKET + 1)
        for bucket, count in buckets.items():
            dense[bucket] = count
        line.p95[index] = quantile(dense, 0.95)
    return line


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
