"""Routes given as data: ``StaticRouteTable`` serves tests and ``gerbang demo`` before the registry is read."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.model import Route


class StaticRouteTable:
    """Apps given as data, each at every path of its hosts (``Route.hosts``)."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.by_slug = {route.slug: route for route in routes}
        self.by_host = {host.lower(): route for route in self.by_slug.values() for host in route.hosts}

    def lookup(self, host: str, path: str) -> tuple[Route, str] | None:
        route = self.by_host.get(host.rstrip("."))
        return (route, path or "/") if route is not None else None

    def find_slug(self, slug: str) -> Route | None:
        return self.by_slug.get(slug)
