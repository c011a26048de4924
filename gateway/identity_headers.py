"""Identity-shaped request headers: the one table of what a client may never tell an app (docs/gateway-identity.md).

An app behind the hub believes what the gateway tells it. Any header an app, a framework or a proxy in
front of it may read as "who is calling", "from where", "which URL" or "which method" is therefore never
passed on from the client: the gateway drops it, and sends its own value where it has one
(``REBUILT``). ``build_forwarding_headers`` is the one place those values are made.

Names are matched in lower case (the server lower-cases them); a row ending in ``-`` matches every name
with that prefix. A name containing ``_`` is dropped too: servers that map headers to CGI-style variables
(PHP, WSGI, Rack) read ``X_User_Id`` and ``X-User-Id`` as the same ``HTTP_X_USER_ID`` (nginx ignores such
names for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.model import Route
    from gateway.request_head import InboundRequest

REBUILT, DROPPED = "rebuilt", "dropped"


@dataclass(frozen=True, slots=True)
class IdentityHeader:
    name: str  # lower case; a trailing "-" makes it a prefix
    treatment: str  # REBUILT (the gateway sends its own value) | DROPPED
    why: str


IDENTITY_HEADERS: tuple[IdentityHeader, ...] = (
    IdentityHeader("x-gerbang-", DROPPED, "the gateway's own namespace; X-Gerbang-Assertion is added afterwards"),
    IdentityHeader("x-forwarded-for", REBUILT, "the client address, walked only through trusted proxies"),
    IdentityHeader("x-forwarded-proto", REBUILT, "the scheme the client used"),
    IdentityHeader("x-forwarded-host", REBUILT, "the app's registered host that routed the request"),
    IdentityHeader("x-forwarded-", DROPPED, "X-Forwarded-User/-Email/-Port/-Prefix/-Uri..., read by auth proxies"),
    IdentityHeader("forwarded", DROPPED, "RFC 7239 for=/host=/proto=: X-Forwarded-* carry the gateway's values"),
    IdentityHeader("x-real-ip", DROPPED, "a client address; X-Forwarded-For carries the gateway's"),
    IdentityHeader("x-client-ip", DROPPED, "a client address some frameworks prefer"),
    IdentityHeader("client-ip", DROPPED, "a client address some frameworks prefer"),
    IdentityHeader("true-client-ip", DROPPED, "a CDN's client address"),
    IdentityHeader("cf-connecting-ip", DROPPED, "a CDN's client address"),
    IdentityHeader("x-cluster-client-ip", DROPPED, "a load balancer's client address"),
    IdentityHeader("x-originating-ip", DROPPED, "a client address"),
    IdentityHeader("x-remote-ip", DROPPED, "a client address"),
    IdentityHeader("x-remote-addr", DROPPED, "a client address"),
    IdentityHeader("x-host", DROPPED, "a host some frameworks prefer to Host"),
    IdentityHeader("x-original-host", DROPPED, "a host some frameworks prefer to Host"),
    IdentityHeader("x-original-url", DROPPED, "IIS/Symfony/Zend read it as the request URL: path rules bypassed"),
    IdentityHeader("x-rewrite-url", DROPPED, "IIS/Symfony/Zend read it as the request URL: path rules bypassed"),
    IdentityHeader("x-original-uri", DROPPED, "nginx auth_request's original URL"),
    IdentityHeader("x-envoy-original-path", DROPPED, "Envoy's original path"),
    IdentityHeader("x-http-method-override", DROPPED, "changes the method an app runs: method rules bypassed"),
    IdentityHeader("x-http-method", DROPPED, "changes the method an app runs: method rules bypassed"),
    IdentityHeader("x-method-override", DROPPED, "changes the method an app runs: method rules bypassed"),
    IdentityHeader("x-original-method", DROPPED, "changes the method an app runs: method rules bypassed"),
    IdentityHeader("x-user-", DROPPED, "X-User-Id, X-User-Email, X-User-Roles..."),
    IdentityHeader("x-user", DROPPED, "a user name"),
    IdentityHeader("x-userid", DROPPED, "a user id"),
    IdentityHeader("x-email", DROPPED, "a user's email"),
    IdentityHeader("x-roles", DROPPED, "a user's roles"),
    IdentityHeader("x-groups", DROPPED, "a user's groups"),
    IdentityHeader("x-remote-user", DROPPED, "Apache/CGI REMOTE_USER"),
    IdentityHeader("remote-user", DROPPED, "Authelia/CGI REMOTE_USER"),
    IdentityHeader("remote-", DROPPED, "Authelia's Remote-Groups/-Email/-Name"),
    IdentityHeader("x-auth-request-", DROPPED, "oauth2-proxy's X-Auth-Request-User/-Email/-Groups"),
    IdentityHeader("x-auth-user", DROPPED, "a user name (auth proxies)"),
    IdentityHeader("x-authenticated-", DROPPED, "X-Authenticated-User/-Userid (auth proxies)"),
    IdentityHeader("x-webauth-", DROPPED, "Grafana's and others' auth-proxy user headers"),
    IdentityHeader("x-amzn-oidc-", DROPPED, "AWS ALB's identity headers"),
    IdentityHeader("x-goog-authenticated-", DROPPED, "Google IAP's identity headers"),
    IdentityHeader("x-goog-iap-", DROPPED, "Google IAP's signed assertion"),
    IdentityHeader("cf-access-", DROPPED, "Cloudflare Access's identity headers"),
    IdentityHeader("x-ms-client-principal", DROPPED, "Azure App Service authentication (and its -name/-id)"),
    IdentityHeader("x-pomerium-", DROPPED, "Pomerium's identity headers"),
)

_EXACT = frozenset(row.name.encode() for row in IDENTITY_HEADERS if not row.name.endswith("-"))
_PREFIXES = tuple(row.name.encode() for row in IDENTITY_HEADERS if row.name.endswith("-"))
# x-ms-client-principal-name, -id, -idp: one row stands for the family.
_PREFIXES += (b"x-ms-client-principal-",)


_SEEN_LIMIT = 4096
_seen: dict[bytes, bool] = {}  # header names repeat: one dict hit instead of ~20 prefix tests per header


def is_identity_header(name: bytes) -> bool:
    """Whether a client's header of this (lower-case) name must not reach the app."""
    verdict = _seen.get(name)
    if verdict is None:
        verdict = name in _EXACT or name.startswith(_PREFIXES) or b"_" in name
        if len(_seen) < _SEEN_LIMIT:  # bounded: a client inventing names cannot grow it
            _seen[name] = verdict
    return verdict


def build_forwarding_headers(
    inbound: InboundRequest, route: Route, assertion: str, *, public_port: str = ""
) -> list[tuple[str, str]]:
    """The gateway's own identity and correlation headers for the upstream (added after the client's, so
    ``Connection: X-Gerbang-Assertion`` cannot remove them). ``public_port``: ":8000" when the issuer names
    a port (every app origin shares it)."""
    head = inbound.head
    return [
        ("x-forwarded-for", inbound.forwarded_for),
        ("x-forwarded-proto", inbound.forwarded_proto),
        ("x-forwarded-host", registered_host(route, head.host) + public_port),
        ("x-request-id", head.request_id),
        ("traceparent", head.traceparent or ""),
        ("x-gerbang-assertion", assertion),
    ]


def registered_host(route: Route, host: str) -> str:
    """The app's registered host that routed the request (never a client-written X-Forwarded-Host): the
    request's own Host when it is one of the app's (trailing dot dropped), else the app's default host."""
    host = host.rstrip(".")
    if host in route.hosts or not route.hosts:
        return host
    return route.hosts[0]
