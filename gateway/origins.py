"""Which origin a request is for: the hub's, one app's, or none (refused).

The hub's origin (the issuer's host) serves only the hub: provider, ``/account``, ``/admin``,
discovery, JWKS, ``/metrics``. Every app has its own origin (``{slug}.{apps_domain}`` and any
host registered for it, with the issuer's scheme and port), so a hostile app can never read the
hub's pages, act through a signed-in citizen or admin, or register a service worker over the
login page. A request whose ``Host`` is neither is refused (problem+json: 400 for a malformed
Host, 404 for an unknown one): the gateway never guesses.

The hub's old app addresses, ``/apps/{slug}/…``, are answered with the app's new address: a 308
for GET and HEAD (the browser keeps the method), a 404 problem naming the new address otherwise.
They are never proxied.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.types import Scope, Send

from gateway.errors import BadRequest, GatewayError, NotFound
from gateway.headers import build_request_id
from gateway.model import Route
from gateway.problem import send_problem, send_websocket_denial
from gateway.request_head import build_host
from gateway.steps import RouteTable
from idp.app_origins import app_origin

OLD_APPS_PREFIX = "/apps/"
_REDIRECTED_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Origin:
    """``route is None``: the hub's own origin; otherwise the app whose host was named."""

    host: str
    route: Route | None = None


class Origins:
    def __init__(self, issuer: str, routes: RouteTable) -> None:
        self.issuer = issuer
        self.routes = routes
        self.hub_host = build_host(issuer.split("://", 1)[1].split("/", 1)[0].encode())

    def find(self, scope: Scope) -> Origin:
        """The origin named by the request's single ``Host``; raises ``BadRequest``/``NotFound`` otherwise."""
        host = build_host(_single_host(scope)).rstrip(".")  # "gerbang.example." names the same host
        if host == self.hub_host:
            return Origin(host)
        found = self.routes.lookup(host, "/")
        if found is None:
            raise NotFound("no app is served at this host name", log_detail=f"unknown host {host}")
        return Origin(host, found[0])

    def app_address(self, route: Route) -> str:
        return app_origin(self.issuer, route.hosts[0]) + "/"

    async def answer_old_address(self, scope: Scope, send: Send) -> None:
        """``/apps/{slug}/rest`` on the hub: 308 to the app's own origin (GET/HEAD), else a 404 that names it."""
        slug, _, rest = scope["path"][len(OLD_APPS_PREFIX) :].partition("/")
        route = self.routes.find_slug(slug) if slug else None
        request_id = build_request_id(scope["headers"])
        if route is None:
            await refuse(scope, send, NotFound("no app is registered at this address"), request_id)
            return
        target = self.app_address(route) + quote(rest, safe="/%:@!$&'()*+,;=-._~")
        if scope["type"] == "http" and scope["method"] in _REDIRECTED_METHODS:
            query = scope.get("query_string", b"")
            location = (target + ("?" + query.decode("latin-1") if query else "")).encode("latin-1")
            await send(
                {
                    "type": "http.response.start",
                    "status": 308,
                    "headers": [
                        (b"location", location),
                        (b"content-length", b"0"),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await refuse(scope, send, NotFound(f"this app has moved to its own address: {target}"), request_id)


async def refuse(scope: Scope, send: Send, error: GatewayError, request_id: str | None = None) -> None:
    request_id = request_id or build_request_id(scope["headers"])
    if scope["type"] == "websocket":
        await send_websocket_denial(send, scope, error, request_id)
    else:
        await send_problem(send, error, request_id, close=isinstance(error, BadRequest))


def _single_host(scope: Scope) -> bytes | None:
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"host":
            if found is not None:
                raise BadRequest("more than one Host header")
            found = value
    return found
