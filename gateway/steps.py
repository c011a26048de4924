"""The interfaces of the request-path steps (route → authenticate → decide → rate limit → proxy).

``gateway.pipeline`` calls them in order; each implementation lives in its own module.
"""

from __future__ import annotations

from typing import Protocol

from gateway.assertion_issuer import SignedAssertion
from gateway.model import Decision, Principal, RequestHead, Route, Verdict


class RouteTable(Protocol):
    def lookup(self, host: str, path: str) -> tuple[Route, str] | None:
        """The app served at ``host`` (its own origin), and the path to forward upstream ("/" at least)."""

    def find_slug(self, slug: str) -> Route | None:
        """The app named ``slug`` (the hub answers its old ``/apps/{slug}/`` address with the new origin)."""


class Authenticator(Protocol):
    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        """Who is calling. Raises ``Unauthenticated`` (bearer) or ``LoginRedirect`` (session apps)."""


class Decider(Protocol):
    def decide(self, principal: Principal, route: Route, request: RequestHead, path: str) -> Decision:
        """A pure function call: Kominfo's policies on ``path``, the path forwarded to the app (the one
        ``RouteTable.lookup`` returned). Until policies exist: authenticated = allowed."""


class Limiter(Protocol):
    async def check(self, principal: Principal, route: Route, request: RequestHead) -> Verdict:
        """Rate limits for this request; never waits longer than the store's timeout."""


class AssertionIssuer(Protocol):
    def issue(self, principal: Principal, route: Route, request: RequestHead) -> SignedAssertion:
        """The signed ``X-Gerbang-Assertion`` JWT for this forwarded request (naming the claims it carries)."""
