"""The route table: every routable app, held in memory, refreshed from the ``apps`` table in the background.

A lookup is two dict hits and no I/O. A background task asks the database a cheap question every
``registry_refresh_seconds`` — ``count(*)``, ``max(updated_at)``, ``sum(updated_at)`` over ``apps`` — and reloads
the whole table only when the answer changed, so every instance picks up a new app or a suspension
within seconds, without a restart.

Routing rules (every app on its own origin; the hub's origin never proxies):
- A request whose ``Host`` names ``{slug}.{apps_domain}`` or a host registered for the app → that app, forwarded
  path = the whole path. The port is not part of the match: every origin shares the hub's listener.
- ``find_slug`` answers the hub's ``/apps/{slug}/…`` addresses with the app's new origin (a redirect, never a proxy).
- Only ``active`` and ``suspended`` apps are routed; ``pending`` and ``rejected`` apps do not exist for the
  data plane (404). A suspended app yields ``Route.status == "suspended"`` (the pipeline answers 503).
- The clients whose status is ``suspended`` are loaded with the routes: the bearer step refuses their tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.apps import app_hosts, stored_hosts
from gateway.claims import DEFAULT_CLAIMS
from gateway.model import Route
from idp.app_origins import default_apps_domain, default_resource, hub_host
from idp.clock import Clock
from idp.periodic import Periodic
from idp.storage.gateway_models import App
from idp.storage.models import Client, OpdUnit
from idp.upstream_addresses import UpstreamAddresses, literal_host

log = logging.getLogger("gerbang.registry")

ROUTED_STATUSES = ("active", "suspended")
# Writers stamp ``updated_at`` with their own clock in whole seconds: a change made in the same second as
# (or, across hosts with slightly skewed clocks, shortly after) our last load may not move the fingerprint.
# While the newest change is that recent, reload anyway.
SAME_SECOND_MARGIN = 2


@dataclass(frozen=True)
class RouteSnapshot:
    """One consistent view of the registry, swapped in whole so a lookup never sees half a reload."""

    by_slug: dict[str, Route] = field(default_factory=dict)
    by_host: dict[str, Route] = field(default_factory=dict)
    # Clients of suspended apps: their live access tokens are refused too (the kill switch covers tokens).
    suspended_clients: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fingerprint:
    count: int
    newest: int
    total: int
    suspended_clients: int = 0
    suspended_total: int = 0


class AppRegistry:
    """``RouteTable`` backed by the database (``gateway.steps.RouteTable``)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        issuer: str,
        clock: Clock,
        refresh_seconds: float = 2.0,
        addresses: UpstreamAddresses | None = None,
        *,
        apps_domain: str = "",
    ) -> None:
        self._addresses = addresses or UpstreamAddresses()
        self._sessionmaker = sessionmaker
        self._issuer = issuer
        self._apps_domain = apps_domain or default_apps_domain(issuer)
        self._hub_host = hub_host(issuer)
        self.on_load: list[Callable[[tuple[Route, ...]], Awaitable[None]]] = []  # e.g. the gateway client's URIs
        self._clock = clock
        self._snapshot = RouteSnapshot()
        self._fingerprint: Fingerprint | None = None
        self._loaded_at = 0
        self.loop = Periodic(
            "registry-refresh",
            self.refresh,
            refresh_seconds,
            on_failure="serving the previous route table; the database may come back",
        )

    def lookup(self, host: str, path: str) -> tuple[Route, str] | None:
        route = self._snapshot.by_host.get(host_name(host))
        return (route, path or "/") if route is not None else None

    def find_slug(self, slug: str) -> Route | None:
        return self._snapshot.by_slug.get(slug)

    def is_client_suspended(self, client_id: str) -> bool:
        """One set lookup; suspending an app touches its ``apps`` row, so the next refresh picks this up."""
        return client_id in self._snapshot.suspended_clients

    def routes(self) -> tuple[Route, ...]:
        return tuple(self._snapshot.by_slug.values())

    async def load(self) -> None:
        """Read every routable app (with its OPD) and swap the snapshot in."""
        started = self._clock.now()
        async with self._sessionmaker() as session:
            fingerprint = await _load_fingerprint(session)
            rows = await session.execute(
                select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id).where(App.status.in_(ROUTED_STATUSES))
            )
            routes = [self._build_route(app, unit) for app, unit in rows.all()]
            suspended = frozenset(
                (await session.scalars(select(Client.client_id).where(Client.status == "suspended"))).all()
            )
        self._snapshot = RouteSnapshot(
            by_slug={route.slug: route for route in routes},
            by_host=build_host_index(routes, self._hub_host),
            suspended_clients=suspended,
        )
        self._fingerprint = fingerprint
        self._loaded_at = started
        for hook in self.on_load:
            await hook(tuple(routes))

    async def refresh(self) -> bool:
        """Reload if the apps table changed since the last load; True when a reload happened."""
        async with self._sessionmaker() as session:
            fingerprint = await _load_fingerprint(session)
        recent = fingerprint.newest >= self._loaded_at - SAME_SECOND_MARGIN
        if fingerprint == self._fingerprint and not recent:
            return False
        await self.load()
        return True

    async def start(self) -> None:
        """Load once (a failure here stops start-up) and keep refreshing in the background."""
        await self.load()
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    def _build_route(self, app: App, unit: OpdUnit) -> Route:
        return Route(
            slug=app.slug,
            opd=unit.slug,
            opd_path=unit.path,
            upstreams=self._allowed_upstreams(app),
            auth_mode=app.auth_mode,
            resource=app.resource or default_resource(self._issuer, self._apps_domain, app.slug),
            client_id=app.client_id,
            restricted=app.restricted,
            status="suspended" if app.status == "suspended" else "active",
            case_insensitive_paths=app.case_insensitive_paths,
            allow_ambiguous_paths=app.allow_ambiguous_paths,
            websocket_origins=tuple(app.websocket_origins or ()),
            hosts=app_hosts(app.slug, self._apps_domain, stored_hosts(app)),
            require_dpop=bool(app.require_dpop),
            claims=DEFAULT_CLAIMS if app.claims is None else tuple(app.claims),
            integrity=app.integrity or "none",
        )

    def _allowed_upstreams(self, app: App) -> tuple[str, ...]:
        """Upstreams registered before the settings refused their address are left out (no DNS here: names
        are checked when connecting); an app left with none answers 503."""
        kept = []
        for url in app.upstreams:
            host = literal_host(url)
            why = self._addresses.refusal(host) if host is not None else None
            if why is None:
                kept.append(url)
            else:
                log.error("upstream refused by GERBANG_UPSTREAM_ALLOW/DENY app=%s upstream=%s: %s", app.slug, url, why)
        return tuple(kept)


async def _load_fingerprint(session: AsyncSession) -> Fingerprint:
    row = (
        await session.execute(
            select(
                func.count(App.id),
                func.coalesce(func.max(App.updated_at), 0),
                func.coalesce(func.sum(App.updated_at), 0),
            )
        )
    ).one()
    # A client suspended (or resumed) on its own, without its app, must reach the bearer step too.
    clients = (
        await session.execute(
            select(func.count(Client.id), func.coalesce(func.sum(Client.updated_at), 0)).where(
                Client.status == "suspended"
            )
        )
    ).one()
    return Fingerprint(int(row[0]), int(row[1]), int(row[2]), int(clients[0]), int(clients[1]))


def build_host_index(routes: Iterable[Route], hub: str) -> dict[str, Route]:
    """Host name → app. The hub's own name is never an app's, whatever a registration claims."""
    index: dict[str, Route] = {}
    for route in routes:
        for host in route.hosts:
            if host != hub:
                index.setdefault(host, route)
    return index


def host_name(host: str) -> str:
    """The Host header's name part, lower case, without port or trailing dot (IPv6 literals never match)."""
    name = host.lower()
    if name.startswith("["):
        return name
    name = name.rsplit(":", 1)[0] if ":" in name else name
    return name.rstrip(".")
