"""Compiled match conditions: each answers ``test`` on the hot path and ``why_not`` for explain.

All conditions of a rule must hold; the values listed inside one condition are alternatives
(any role, any OPD, any path...), except ``scopes``, which are all required.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from policies.patterns import DAYS, MinuteRanges, PathMatcher

JAKARTA = ZoneInfo("Asia/Jakarta")  # UTC+7 all year: Indonesia has no daylight saving time
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_UNSET: Any = object()


class Facts:
    """Values derived from a request at most once per decision, and only when a condition needs them."""

    __slots__ = ("request", "_ip", "_local")

    def __init__(self, request: Any) -> None:
        self.request = request
        self._ip: IpAddress | None = _UNSET
        self._local: tuple[int, int] | None = None

    def ip(self) -> IpAddress | None:
        if self._ip is _UNSET:
            self._ip = parse_ip(self.request.ip) if self.request.ip else None
        return self._ip

    def local(self) -> tuple[int, int]:
        """(weekday with Monday = 0, minute of the day) in Asia/Jakarta."""
        if self._local is None:
            moment = self.request.at.astimezone(JAKARTA)
            self._local = (moment.weekday(), moment.hour * 60 + moment.minute)
        return self._local


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IpAddress | None:
    """Parsing costs more than the rest of a decision; client addresses repeat, so remember them."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class Condition(Protocol):
    name: str

    def test(self, request: Any, facts: Facts) -> bool: ...

    def why_not(self, request: Any, facts: Facts) -> str: ...


def _show(values: Any) -> str:
    return ", ".join(sorted(str(value) for value in values))


class AppIn:
    name = "apps"
    __slots__ = ("slugs",)

    def __init__(self, slugs: frozenset[str]) -> None:
        self.slugs = slugs

    def test(self, request: Any, facts: Facts) -> bool:
        return "*" in self.slugs or request.app in self.slugs

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"app '{request.app}' is not one of {_show(self.slugs)}"


class MethodIn:
    name = "methods"
    __slots__ = ("methods",)

    def __init__(self, methods: frozenset[str]) -> None:
        self.methods = methods

    def test(self, request: Any, facts: Facts) -> bool:
        return request.method in self.methods

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"method {request.method} is not one of {_show(self.methods)}"


class ClientIn:
    name = "clients"
    __slots__ = ("clients",)

    def __init__(self, clients: frozenset[str]) -> None:
        self.clients = clients

    def test(self, request: Any, facts: Facts) -> bool:
        return request.client_id in self.clients

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"client {request.client_id!r} is not one of {_show(self.clients)}"


class UserIn:
    name = "subject.users"
    __slots__ = ("users",)

    def __init__(self, users: frozenset[str]) -> None:
        self.users = users

    def test(self, request: Any, facts: Facts) -> bool:
        return request.sub in self.users

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"user {request.sub!r} is not one of {_show(self.users)}"


class RoleIn:
    name = "subject.roles"
    __slots__ = ("roles",)

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    def test(self, request: Any, facts: Facts) -> bool:
        return not self.roles.isdisjoint(request.roles)

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"roles [{_show(request.roles)}] include none of {_show(self.roles)}"


class OpdUnder:
    """Membership inherited down the tree: a path "/kota/dinkes/pkm-x/" is under "dinkes"."""

    name = "subject.opds"
    __slots__ = ("segments",)

    def __init__(self, segments: tuple[str, ...]) -> None:
        self.segments = segments

    def test(self, request: Any, facts: Facts) -> bool:
        for path in request.opd_paths:  # loops, not any(genexpr): this runs on every request
            for segment in self.segments:
                if segment in path:
                    return True
        return False

    def why_not(self, request: Any, facts: Facts) -> str:
        units = _show(segment.strip("/") for segment in self.segments)
        return f"OPD paths [{_show(request.opd_paths)}] are not under {units}"


class ScopesAll:
    name = "scopes"
    __slots__ = ("scopes",)

    def __init__(self, scopes: frozenset[str]) -> None:
        self.scopes = scopes

    def test(self, request: Any, facts: Facts) -> bool:
        return self.scopes.issubset(request.scopes)

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"missing scopes {_show(self.scopes.difference(request.scopes))}"


class PathMatches:
    """Paths matched as written, or without regard to case for apps whose server ignores it (IIS...)."""

    name = "paths"
    __slots__ = ("matchers", "folded", "patterns")

    def __init__(
        self, patterns: tuple[str, ...], matchers: tuple[PathMatcher, ...], folded: tuple[PathMatcher, ...] = ()
    ) -> None:
        self.patterns = patterns
        self.matchers = matchers
        self.folded = folded or matchers  # the matchers of the lower-cased patterns

    def test(self, request: Any, facts: Facts) -> bool:
        path = request.path
        matchers = self.matchers
        if request.case_insensitive_paths:
            path, matchers = path.lower(), self.folded
        for matcher in matchers:
            if matcher(path):
                return True
        return False

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"path {request.path} matches none of {', '.join(self.patterns)}"


class IpIn:
    name = "ips"
    __slots__ = ("networks",)

    def __init__(self, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        self.networks = networks

    def test(self, request: Any, facts: Facts) -> bool:
        address = facts.ip()
        if address is None:
            return False
        for network in self.networks:
            if address in network:
                return True
        return False

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"source IP {request.ip!r} is in none of {_show(self.networks)}"


class IpNotIn:
    name = "not_ips"
    __slots__ = ("networks",)

    def __init__(self, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        self.networks = networks

    def test(self, request: Any, facts: Facts) -> bool:
        address = facts.ip()
        if address is None:
            return True
        for network in self.networks:
            if address in network:
                return False
        return True

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"source IP {request.ip!r} is in one of {_show(self.networks)}"


class TimeIn:
    name = "time"
    __slots__ = ("ranges",)

    def __init__(self, ranges: MinuteRanges) -> None:
        self.ranges = ranges

    def test(self, request: Any, facts: Facts) -> bool:
        weekday, minute = facts.local()
        for start, end in self.ranges[weekday]:
            if start <= minute < end:
                return True
        return False

    def why_not(self, request: Any, facts: Facts) -> str:
        weekday, minute = facts.local()
        return f"{DAYS[weekday]} {minute // 60:02d}:{minute % 60:02d} Asia/Jakarta is outside the time windows"


class AcrAtLeast:
    name = "acr"
    __slots__ = ("acr", "rank", "ranks")

    def __init__(self, acr: str, ranks: Mapping[str, int]) -> None:
        self.acr = acr
        self.rank = ranks[acr]
        self.ranks = ranks

    def test(self, request: Any, facts: Facts) -> bool:
        return self.ranks.get(request.acr, -1) >= self.rank

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"acr {request.acr!r} is below the required {self.acr}"


class AcrBelow:
    name = "acr_below"
    __slots__ = ("acr", "rank", "ranks")

    def __init__(self, acr: str, ranks: Mapping[str, int]) -> None:
        self.acr = acr
        self.rank = ranks[acr]
        self.ranks = ranks

    def test(self, request: Any, facts: Facts) -> bool:
        return self.ranks.get(request.acr, -1) < self.rank

    def why_not(self, request: Any, facts: Facts) -> str:
        return f"acr {request.acr!r} is not below {self.acr}"
