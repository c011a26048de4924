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

from gateway.admin.actor import Actor, build_scope_clause, check_sees
from gateway.errors import BadRequest
from gateway.traffic import LAST_BUCKET, quantile
from gateway.traffic_store import AppTraffic, load_traffic
from idp.org import load_opd
from idp.storage.models import App, OpdUnit

UNROUTED = "-"  # what GatewayMetrics records when no app matched the request
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
WINDOWS = (15, 60, 180)  # minutes the page offers; the API accepts any whole number in MINUTES_RANGE
MINUTES_RANGE = (5, 180)


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
        return {"slug": self.key, "name": self.name, "opd": self.opd, "opd_name": self.opd_name,
                "requests": requests, "client_errors": client_errors, "server_errors": server_errors,
                "throttled": throttled, "p95_seconds": _round(self.p95_total),
                "per_minute": {"requests": self.requests, "client_errors": self.client_errors,
                               "server_errors": self.server_errors, "throttled": self.throttled,
                               "p95_seconds": [_round(v) for v in self.p95]}}


@dataclass
class TrafficView:
    first_minute: int  # UNIX seconds // 60
    minutes: int
    total: Series
    opds: list[Series]
    apps: list[Series]  # the page of apps, busiest first
    more_apps: bool
    opd: str | None  # the filter

    def as_json(self, offset: int, limit: int) -> dict[str, Any]:
        return {"from": self.first_minute * 60, "to": (self.first_minute + self.minutes) * 60,
                "minutes": self.minutes, "opd": self.opd, "total": self.total.as_json(),
                "opds": [s.as_json() for s in self.opds], "apps": [s.as_json() for s in self.apps],
                "limit": limit, "offset": offset, "next_offset": offset + limit if self.more_apps else None}


def check_traffic_filter(opd: str | None, minutes: int) -> None:
    """Bad filters are refused before anything is read (a NUL or an odd character never reaches SQL)."""
    if opd is not None and not SLUG.fullmatch(opd):
        raise BadRequest("'opd' must be an OPD slug (lowercase letters, digits and hyphens)")
    if not MINUTES_RANGE[0] <= minutes <= MINUTES_RANGE[1]:
        raise BadRequest(f"'minutes' must be a whole number from {MINUTES_RANGE[0]} to {MINUTES_RANGE[1]}")


async def load_traffic_view(session: AsyncSession, actor: Actor, now: int, *, opd: str | None, minutes: int = 60,
                            offset: int = 0, limit: int = 50) -> TrafficView:
    check_traffic_filter(opd, minutes)
    last = now // 60
    first = last - minutes + 1
    query = (select(App.slug, App.name, OpdUnit.slug, OpdUnit.name).join(OpdUnit, App.opd_id == OpdUnit.id)
             .where(build_scope_clause(actor, OpdUnit.path)))
    if opd is not None:
        unit = await load_opd(session, opd)
        check_sees(actor, unit.path)  # an OPD admin filters inside their subtree, never above it
        query = query.where(OpdUnit.path.startswith(unit.path, autoescape=True))
    apps = {slug: (name, unit_slug, unit_name) for slug, name, unit_slug, unit_name in (await session.execute(query))}
    if actor.kominfo and opd is None:
        apps[UNROUTED] = ("(tanpa rute: alamat tidak dikenal)", UNROUTED, "(tanpa OPD)")
        stored = await load_traffic(session, first, last, None)
    else:
        stored = await load_traffic(session, first, last, list(apps))
    total = _empty("total", "Semua", "", "", minutes)
    by_opd: dict[str, Series] = {}
    lines: list[Series] = []
    for slug, traffic in stored.items():
        if slug not in apps:  # an app deleted since, or outside the caller's scope
            continue
        name, unit_slug, unit_name = apps[slug]
        line = _empty(slug, name, unit_slug, unit_name, minutes)
        _fill(line, traffic, first)
        lines.append(line)
        unit_line = by_opd.get(unit_slug) or by_opd.setdefault(
            unit_slug, _empty(unit_slug, unit_name, unit_slug, unit_name, minutes))
        for into in (unit_line, total):
            _fill(into, traffic, first)
    lines.sort(key=lambda s: (-s.totals[0], s.key))
    opds = sorted(by_opd.values(), key=lambda s: (-s.totals[0], s.key))
    shown = [_finish(line) for line in lines[offset:offset + limit]]
    return TrafficView(first, minutes, _finish(total), [_finish(line) for line in opds], shown,
                       len(lines) > offset + limit, opd)


async def list_visible_units(session: AsyncSession, actor: Actor) -> list[tuple[str, str, int]]:
    """(slug, name, depth) of every OPD unit the caller may filter by, in tree order."""
    rows = await session.execute(select(OpdUnit.slug, OpdUnit.name, OpdUnit.path)
                                 .where(build_scope_clause(actor, OpdUnit.path)).order_by(OpdUnit.path))
    return [(slug, name, path.strip("/").count("/")) for slug, name, path in rows.all()]


def _empty(key: str, name: str, opd: str, opd_name: str, minutes: int) -> Series:
    return Series(key, name, opd, opd_name, [0] * minutes, [0] * minutes, [0] * minutes, [0] * minutes,
                  [None] * minutes)


def _fill(line: Series, traffic: AppTraffic, first: int) -> None:
    """Add one app's stored minutes into ``line`` (p95 per minute recomputed from the merged buckets)."""
    minutes = len(line.requests)
    for minute, (requests, client_errors, server_errors, throttled) in traffic.minutes.items():
        index = minute - first
        if 0 <= index < minutes:
            line.requests[index] += requests
            line.client_errors[index] += client_errors
            line.server_errors[index] += server_errors
            line.throttled[index] += throttled
    for minute, buckets in traffic.minute_buckets.items():
        index = minute - first
        if 0 <= index < minutes:
            merged = line.minute_buckets.setdefault(index, {})
            for bucket, count in buckets.items():
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
