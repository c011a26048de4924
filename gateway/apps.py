"""The app registry's write side: registering, listing and suspending OPD apps.

Shared by ``gerbang apps`` and (later) the admin API. Every change sets ``updated_at``: running
gateways notice it through ``gateway.registry`` within ``registry_refresh_seconds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.claims import DEFAULT_CLAIMS, check_claims
from idp.app_origins import default_app_host, default_apps_domain, default_resource, hub_host
from idp.clients import check_resource, load_client
from idp.errors import Conflict, InvalidInput, NotFound
from idp.org import load_opd
from idp.storage.gateway_models import App, AppHost
from idp.storage.models import OpdUnit
from idp.upstream_addresses import UpstreamAddresses, UpstreamRefused, check_upstream_address

AUTH_MODES = ("session", "bearer", "none")
INTEGRITY_MODES = ("none", "signed", "ledger")  # gateway.integrity: RFC 9421 signed requests; + receipts
STATUSES = ("pending", "active", "suspended", "rejected")
# A slug is the first label of the app's host name ({slug}.{apps_domain}): an RFC 1123 label.
SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# RFC 1123 host names, lower case; an app's own host name for host-based routing.
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class AppRecord:
    """An app as operators see it (CLI, admin API)."""

    id: int
    slug: str
    name: str
    opd: str
    upstreams: tuple[str, ...]
    auth_mode: str
    resource: str
    client_id: str | None
    restricted: bool
    status: str
    case_insensitive_paths: bool = False
    allow_ambiguous_paths: bool = False
    websocket_origins: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    require_dpop: bool = False
    integrity: str = "none"
    claims: tuple[str, ...] = DEFAULT_CLAIMS  # what its assertion carries (gateway.claims)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "opd": self.opd,
            "upstreams": list(self.upstreams),
            "auth_mode": self.auth_mode,
            "resource": self.resource,
            "client_id": self.client_id,
            "hosts": list(self.hosts),
            "restricted": self.restricted,
            "status": self.status,
            "case_insensitive_paths": self.case_insensitive_paths,
            "allow_ambiguous_paths": self.allow_ambiguous_paths,
            "websocket_origins": list(self.websocket_origins),
            "require_dpop": self.require_dpop,
            "claims": list(self.claims),
            "integrity": self.integrity,
        }


def default_app_resource(issuer: str, slug: str, apps_domain: str = "") -> str:
    """The app's default resource identifier: its own origin + "/" (``idp.app_origins``)."""
    return default_resource(issuer, apps_domain or default_apps_domain(issuer), slug)


def app_hosts(slug: str, apps_domain: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Where the app is served: its default host ``{slug}.{apps_domain}``, then its registered extra hosts."""
    default = default_app_host(slug, apps_domain)
    return (default, *(host for host in extra if host != default))


def stored_hosts(app: App) -> tuple[str, ...]:
    """The extra host names registered for ``app`` (``app_hosts`` rows), by name."""
    return tuple(sorted(row.host for row in app.extra_hosts))


async def check_extra_hosts(
    session: AsyncSession,
    hosts: tuple[str, ...] | list[str],
    *,
    slug: str,
    issuer: str,
    apps_domain: str,
    app_id: int | None = None,
) -> tuple[str, ...]:
    """Extra host names for the app ``slug``: DNS names, none the hub's, none inside the apps domain (naming the
    app's own default host is allowed and dropped: it is always served), none another app's (``Conflict``)."""
    default = default_app_host(slug, apps_domain)
    checked = tuple(dict.fromkeys(host for host in (check_host(value) for value in hosts) if host != default))
    hub = hub_host(issuer)
    for host in checked:
        if host == hub:
            raise InvalidInput("the app's host must not be the hub's own host name (it would capture the hub's pages)")
        if host == apps_domain or host.endswith("." + apps_domain):
            raise InvalidInput(
                f"host must not be inside the apps domain {apps_domain}: every name there is an app's "
                f"own (SLUG.{apps_domain})"
            )
    if checked:
        taken = (
            await session.execute(
                select(AppHost.host, App.slug)
                .join(App, App.id == AppHost.app_id)
                .where(AppHost.host.in_(checked), AppHost.app_id != (app_id or -1))
            )
        ).first()
        if taken is not None:
            raise Conflict(f"host '{taken[0]}' already belongs to app '{taken[1]}'")
    return checked


def set_extra_hosts(app: App, hosts: tuple[str, ...]) -> None:
    """Replace the app's extra hosts with ``hosts`` (already checked); rows that stay are kept."""
    keep = [row for row in app.extra_hosts if row.host in hosts]
    kept = {row.host for row in keep}
    app.extra_hosts = keep + [AppHost(host=host) for host in hosts if host not in kept]


def check_integrity(mode: str) -> str:
    if mode not in INTEGRITY_MODES:
        raise InvalidInput(f"integrity must be one of: {', '.join(INTEGRITY_MODES)}")
    return mode


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidInput(
            "slug must be lowercase letters, digits and dashes, starting and ending with a letter or "
            "digit (max 63): it names the app's host"
        )
    return slug


def check_upstream(url: str) -> str:
    """An absolute http(s) origin with an optional path prefix; no credentials, query or fragment.

    Stored without a trailing slash: the proxy appends the forwarded path, which starts with "/".
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"upstream must be an absolute http(s) URL: {url}")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"upstream must not carry credentials: {url}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidInput(f"upstream must not carry a query or fragment: {url}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InvalidInput(f"upstream has an invalid port: {url}") from exc
    return url.rstrip("/")


async def check_upstream_addresses(upstreams: tuple[str, ...], addresses: UpstreamAddresses) -> None:
    """Every upstream's address (a name: every address it resolves to) is one the settings allow."""
    for url in upstreams:
        try:
            await check_upstream_address(url, addresses)
        except UpstreamRefused as exc:
            raise InvalidInput(f"{url}: {exc}") from None


def check_websocket_origin(origin: str) -> str:
    """An origin (RFC 6454 §6.2 serialisation): scheme://host[:port], nothing else, lower case."""
    value = origin.strip().lower()
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "?" in value
        or "#" in value
        or value.endswith("/")
    ):
        raise InvalidInput(f"a WebSocket origin is scheme://host[:port], e.g. https://peta.palembang.go.id: {origin}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InvalidInput(f"origin has an invalid port: {origin}") from exc
    return value


def check_host(host: str) -> str:
    value = host.strip().lower()
    if not HOST.match(value) or value.replace(".", "").isdigit():
        raise InvalidInput(f"host must be a DNS name such as parkir.palembang.go.id: {host}")
    return value


async def add_app(
    session: AsyncSession,
    *,
    slug: str,
    opd_slug: str,
    upstreams: tuple[str, ...],
    auth_mode: str,
    issuer: str,
    now: int,
    name: str | None = None,
    client_id: str | None = None,
    resource: str | None = None,
    hosts: tuple[str, ...] = (),
    restricted: bool = False,
    status: str = "active",
    case_insensitive_paths: bool = False,
    allow_ambiguous_paths: bool = False,
    websocket_origins: tuple[str, ...] = (),
    apps_domain: str = "",
    addresses: UpstreamAddresses | None = None,
    require_dpop: bool = False,
    claims: tuple[str, ...] | None = None,
    integrity: str = "none",
) -> AppRecord:
    """Register an app; every problem with the input is reported as ``InvalidInput``/``NotFound``/``Conflict``.

    ``addresses``: which upstream addresses the settings allow (``build_upstream_addresses(settings)``); without
    it, the defaults (no loopback, link-local or metadata upstreams).
    """
    check_slug(slug)
    if auth_mode not in AUTH_MODES:
        raise InvalidInput(f"auth must be one of: {', '.join(AUTH_MODES)}")
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of: {', '.join(STATUSES)}")
    if not upstreams:
        raise InvalidInput("at least one --upstream URL is needed")
    if require_dpop and auth_mode != "bearer":
        raise InvalidInput("--require-dpop applies to bearer apps (their callers present access tokens)")
    check_integrity(integrity)
    checked = tuple(dict.fromkeys(check_upstream(url) for url in upstreams))
    await check_upstream_addresses(checked, addresses or UpstreamAddresses())
    checked_resource = check_resource(resource) if resource else None
    origins = list(dict.fromkeys(check_websocket_origin(origin) for origin in websocket_origins))
    domain = apps_domain or default_apps_domain(issuer)
    if hub_host(issuer) == default_app_host(slug, domain):
        raise InvalidInput("the app's host must not be the hub's own host name (it would capture the hub's pages)")
    checked_hosts = await check_extra_hosts(session, hosts, slug=slug, issuer=issuer, apps_domain=domain)
    unit = await load_opd(session, opd_slug)
    if client_id:
        await load_client(session, client_id)
    if await session.scalar(select(App.id).where(App.slug == slug)) is not None:
        raise Conflict(f"app '{slug}' already exists")
    app = App(
        slug=slug,
        name=(name or slug).strip() or slug,
        opd_id=unit.id,
        upstreams=list(checked),
        auth_mode=auth_mode,
        client_id=client_id,
        resource=checked_resource,
        extra_hosts=[AppHost(host=host) for host in checked_hosts],
        restricted=restricted,
        status=status,
        created_at=now,
        updated_at=now,
        case_insensitive_paths=case_insensitive_paths,
        allow_ambiguous_paths=allow_ambiguous_paths,
        websocket_origins=origins,
        require_dpop=require_dpop,
        claims=None if claims is None else list(check_claims(claims)),
        integrity=integrity,
    )
    session.add(app)
    await session.flush()
    return _record(app, unit, issuer, domain)


async def set_app_status(
    session: AsyncSession, slug: str, status: str, now: int, issuer: str, apps_domain: str = ""
) -> AppRecord:
    """Suspend, resume, approve or reject an app (the gateway answers 503 for a suspended one)."""
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of: {', '.join(STATUSES)}")
    row = await session.execute(select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id).where(App.slug == slug))
    found = row.first()
    if found is None:
        raise NotFound(f"app '{slug}' does not exist")
    app, unit = found
    app.status = status
    app.updated_at = max(now, app.updated_at)
    await session.flush()
    return _record(app, unit, issuer, apps_domain)


async def list_apps(session: AsyncSession, issuer: str, apps_domain: str = "") -> list[AppRecord]:
    rows = await session.execute(select(App, OpdUnit).join(OpdUnit, App.opd_id == OpdUnit.id).order_by(App.slug))
    return [_record(app, unit, issuer, apps_domain) for app, unit in rows.all()]


def _record(app: App, unit: OpdUnit, issuer: str, apps_domain: str = "") -> AppRecord:
    domain = apps_domain or default_apps_domain(issuer)
    return AppRecord(
        id=app.id,
        slug=app.slug,
        name=app.name,
        opd=unit.slug,
        upstreams=tuple(app.upstreams),
        auth_mode=app.auth_mode,
        resource=app.resource or default_resource(issuer, domain, app.slug),
        client_id=app.client_id,
        restricted=app.restricted,
        status=app.status,
        case_insensitive_paths=app.case_insensitive_paths,
        allow_ambiguous_paths=app.allow_ambiguous_paths,
        websocket_origins=tuple(app.websocket_origins or ()),
        hosts=app_hosts(app.slug, domain, stored_hosts(app)),
        require_dpop=bool(app.require_dpop),
        claims=DEFAULT_CLAIMS if app.claims is None else tuple(app.claims),
        integrity=app.integrity or "none",
    )
