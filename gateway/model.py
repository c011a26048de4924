"""The typed values passed between the gateway's request-path steps.

route → ``Route``; authenticate → ``Principal``; policies decide → ``Decision``;
rate limit → ``Verdict``. No step fishes in the ASGI scope for what another step left there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What the policies said (allowed, rule_ids, reason, required_acr, report_only, would_allow): the policy engine's
# memoised, frozen value is the gateway's decision as it is, not copied per request.
from policies.model import Decision as Decision


@dataclass(frozen=True, slots=True)
class Route:
    """A registered app as the data plane sees it (loaded from the ``apps`` table)."""

    slug: str
    opd: str  # owning OPD slug
    opd_path: str  # materialised OPD path, e.g. "/kota-palembang/dishub/"
    upstreams: tuple[str, ...]
    auth_mode: str  # session | bearer | none
    resource: str  # the app's resource identifier; the `aud` its tokens and assertions carry
    client_id: str | None = None
    restricted: bool = False
    status: str = "active"  # active | suspended
    case_insensitive_paths: bool = False  # the upstream reads /ADMIN as /admin: policies match without case
    allow_ambiguous_paths: bool = False  # opt-in: ';', double encoding, trailing dots/spaces pass (gateway.paths)
    websocket_origins: tuple[str, ...] = ()  # origins besides the app's own allowed to open its WebSockets
    # Every host the app is served at: ``{slug}.{apps_domain}`` first, then its extra hosts (never the hub's).
    hosts: tuple[str, ...] = ()
    require_dpop: bool = False  # bearer apps: only DPoP-bound tokens (RFC 9449), never plain bearer
    integrity: str = "none"  # none | signed | ledger (gateway.integrity)
    # The identity claims its assertion carries beyond sub/client_id (gateway.claims).
    claims: tuple[str, ...] = ("name", "opd", "roles", "acr")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (via session or token), a client alone (client_credentials), or nobody."""

    sub: str | None = None
    client_id: str | None = None
    name: str | None = None  # the person's display name (session apps show who is signed in)
    opd: str | None = None  # the user's primary OPD slug
    opd_paths: tuple[str, ...] = ()  # materialised paths of every OPD the user belongs to
    roles: tuple[str, ...] = ()
    scopes: frozenset[str] = field(default_factory=frozenset)
    acr: str | None = None
    amr: tuple[str, ...] = ()
    token_id: str | None = None  # jti of the access token, if any
    session_id: str | None = None
    # Personal identifiers, only for apps configured to receive them (gateway.claims).
    email: str | None = None
    nik: str | None = None
    nip: str | None = None
    # A session app's person agreed to these claims only (idp.app_agreement); None: not limited by an agreement.
    agreed: tuple[str, ...] | None = None

    @property
    def anonymous(self) -> bool:
        return self.sub is None and self.client_id is None


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The checked head of a request: the path is normalised once and is the path authorized and forwarded."""

    method: str
    path: str  # normalised full path, e.g. "/tiket/1" (the app's own origin: forwarded as is)
    query: bytes  # raw query string, forwarded byte for byte
    headers: tuple[tuple[bytes, bytes], ...]  # as received (lower-case names), hygiene not yet applied
    client_ip: str  # the real client address (trusted proxies resolved)
    scheme: str
    host: str
    request_id: str
    traceparent: str | None = None

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rate limiter said; ``headers`` are the IETF RateLimit-Policy / RateLimit headers to send."""

    allowed: bool
    limit_id: str | None = None
    retry_after: float = 0.0
    headers: tuple[tuple[bytes, bytes], ...] = ()
