"""Rate-limit declarations as the policy files state them (pure data; the gateway enforces them).

``per`` names the key dimension; GCRA limits have ``rate`` per ``period`` seconds and a ``burst``;
quotas (``window`` = day | month) are fixed-window counters in Asia/Jakarta calendar time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dimension = Literal["ip", "client", "user", "app", "opd", "account", "client_auth_failure"]
RouteClass = Literal["app", "login", "token"]


@dataclass(frozen=True, slots=True)
class LimitSpec:
    id: str
    per: Dimension
    route_class: RouteClass = "app"
    apps: tuple[str, ...] = ()  # empty = every app (route_class "app" only)
    opds: tuple[str, ...] = ()  # OPD slugs whose subtree the limit covers; empty = all
    rate: int = 0  # requests per period (GCRA); 0 when this is a quota
    period: float = 1.0
    burst: int = 0
    window: Literal["day", "month"] | None = None  # quota window
    quota: int = 0
    fail_mode: Literal["open-local", "closed"] | None = None  # None: default for the route class
