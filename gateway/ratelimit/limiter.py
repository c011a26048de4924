"""The rate-limit step of the request path: which limits apply to this request, all checked in one round
trip, and the most restrictive answer as a ``Verdict``.

A limit applies to an app route when its ``apps`` name the route's app (or are empty) and its ``opds`` name
the route's OPD or an OPD above it in the tree (``Route.opd_path``) — a limit for ``dinas-kesehatan`` covers
its puskesmas' apps. Its subject by dimension: ``ip`` the client address, ``client`` the OAuth client,
``user`` the subject, ``app`` the app, ``opd`` the OPD the limit names (the whole subtree shares it) or, when
it names none, the app's own OPD. A limit whose subject is absent (``user`` for an anonymous call) is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from gateway.model import Principal, RequestHead, Route, Verdict
from gateway.ratelimit.headers import build_ratelimit_headers, build_unavailable
from idp.throttle.store import Hit, LimitStore, Outcome
from policies.limits import LimitSpec
from policies.watcher import PolicyWatcher

DENIED = Counter("gerbang_ratelimit_denied_total", "Requests refused by a rate limit", ["limit"])
MAX_CACHED_ROUTES = 10_000

Applicable = tuple[tuple[LimitSpec, str | None], ...]  # each limit and its fixed subject (app, opd) if any


class GatewayLimiter:
    def __init__(self, specs: Sequence[LimitSpec], store: LimitStore) -> None:
        self.specs = tuple(spec for spec in specs if spec.route_class == "app")
        self.store = store
        self._routes: dict[tuple[str, str], Applicable] = {}

    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        hits = []
        for spec, fixed in self._applicable(route):
            subject = fixed or _subject(spec, principal, request)
            if subject:
                hits.append(Hit(spec, subject))
        if not hits:
            return Verdict(True)
        return build_verdict(await self.store.check(hits), getattr(self.store, "last_error", None))

    def _applicable(self, route: Route) -> Applicable:
        cache_key = (route.slug, route.opd_path)
        found = self._routes.get(cache_key)
        if found is None:
            if len(self._routes) >= MAX_CACHED_ROUTES:
                self._routes.clear()
            found = self._routes[cache_key] = _select(self.specs, route)
        return found


def build_verdict(outcomes: Sequence[Outcome], store_error: str | None = None) -> Verdict:
    """The most restrictive outcome: a closed limit that could not be checked, else the denial that lasts
    longest, else the allowed limit with the fewest requests left (its headers go on the response)."""
    unavailable = [outcome for outcome in outcomes if outcome.unavailable]
    if unavailable:
        raise build_unavailable(unavailable[0], store_error)
    denied = [outcome for outcome in outcomes if not outcome.allowed]
    if denied:
        worst = max(denied, key=lambda outcome: outcome.retry_after)
        DENIED.labels(worst.spec.id).inc()
        return Verdict(False, worst.spec.id, worst.retry_after, build_ratelimit_headers(worst))
    tightest = min(outcomes, key=lambda outcome: (outcome.remaining / max(1, outcome.quota), -outcome.reset))
    return Verdict(True, tightest.spec.id, 0.0, build_ratelimit_headers(tightest))


def _select(specs: Sequence[LimitSpec], route: Route) -> Applicable:
    lineage = [segment for segment in route.opd_path.split("/") if segment] or [route.opd]
    selected = []
    for spec in specs:
        if spec.apps and route.slug not in spec.apps:
            continue
        named = [opd for opd in lineage if opd in spec.opds]
        if spec.opds and not named:
            continue
        fixed = {"app": route.slug, "opd": named[0] if named else route.opd}.get(spec.per)
        selected.append((spec, fixed))
    return tuple(selected)


def _subject(spec: LimitSpec, principal: Principal, request: RequestHead) -> str | None:
    if spec.per == "ip":
        return request.client_ip
    if spec.per == "client":
        return principal.client_id
    if spec.per == "user":
        return principal.sub
    return None  # account and client_auth_failure limits belong to the provider's endpoints


class PolicyLimiter:
    """The gateway's limiter over the policies in force: rebuilt (same store) when a reload swaps the set."""

    def __init__(self, watcher: PolicyWatcher, store: LimitStore) -> None:
        self._watcher = watcher
        self._store = store
        self._set = watcher.current
        self._limiter = GatewayLimiter(self._set.limits, store)

    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        current = self._watcher.current
        if current is not self._set:
            self._set, self._limiter = current, GatewayLimiter(current.limits, self._store)
        return await self._limiter.check(principal, route, request)
