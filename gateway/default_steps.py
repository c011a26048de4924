"""The step implementations the pipeline uses until the real ones are wired in (issue 3's "until then").

- ``AllowAll``: the Decider until Kominfo's policies exist. Denying anonymous callers of
  ``bearer``/``session`` apps is the authenticator's job, so "authenticated = allowed" is "allow".
- ``Unlimited``: the Limiter until rate limits exist.
- ``PublicOnlyAuthenticator``: serves ``none`` apps (a principal without a user) and refuses
  every other app with 401 — safe when no real authenticator is configured.
- ``StaticRouteTable``: routes given as data (tests, ``gerbang demo`` before the registry).
- ``KeyRingAssertions``: signs ``X-Gerbang-Assertion`` with the hub's key ring.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from gateway.errors import Unauthenticated
from gateway.model import Decision, Principal, RequestHead, Route, Verdict
from idp.clock import Clock
from idp.keys import KeyRing

ANONYMOUS = Principal()
ALLOWED = Decision(allowed=True, reason="no policies configured")
UNLIMITED = Verdict(allowed=True)


class AllowAll:
    def decide(self, principal: Principal, route: Route, request: RequestHead, path: str) -> Decision:
        return ALLOWED


class Unlimited:
    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        return UNLIMITED


class PublicOnlyAuthenticator:
    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        if route.auth_mode == "none":
            return ANONYMOUS
        raise Unauthenticated(
            "this app needs authentication",
            headers=((b"www-authenticate", b"Bearer"),),
            log_detail=f"no authenticator configured for auth mode {route.auth_mode}",
        )


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


class KeyRingAssertions:
    """The identity assertion for the upstream: short-lived, audience-bound, one per forwarded request."""

    def __init__(self, keys: KeyRing, issuer: str, clock: Clock, ttl: int = 60) -> None:
        self.keys, self.issuer, self.clock, self.ttl = keys, issuer, clock, ttl

    def issue(self, principal: Principal, route: Route, request: RequestHead) -> str:
        now = self.clock.now()
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": route.resource,
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(12),
            "sub": principal.sub,
            "opd": principal.opd,
            "roles": list(principal.roles),
            "acr": principal.acr,
            "client_id": principal.client_id,
            "request_id": request.request_id,
        }
        return self.keys.sign(claims, typ="gerbang-assertion+jwt")
