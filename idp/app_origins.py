"""Where OPD apps live: each on its own origin, never the hub's.

An app's default host is ``{slug}.{apps_domain}``; its origin takes the issuer's scheme and
port, and its default RFC 8707 resource identifier (the ``aud`` of its tokens and of its
``X-Gerbang-Assertion``) is that origin followed by ``/``. Pure functions: the gateway, the
registry, the CLI and the 0005 migration all compute the same strings here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# RFC 1123 host names, lower case, no trailing dot.
DNS_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Every current browser resolves *.localhost to loopback (RFC 6761 §6.3): the demo's apps live there.
LOOPBACK_APPS_DOMAIN = "localhost"


def hub_host(issuer: str) -> str:
    """The hub's host name, lower case, without port."""
    return (urlsplit(issuer).hostname or "").lower()


def default_apps_domain(issuer: str) -> str:
    """``localhost`` for a loopback issuer (apps at ``parkir.localhost``), else ``apps.`` + the hub's host."""
    host = hub_host(issuer)
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return LOOPBACK_APPS_DOMAIN
    return f"apps.{host}"


def check_apps_domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not DNS_NAME.fullmatch(name) or name.replace(".", "").isdigit():
        raise ValueError("apps_domain must be a DNS name such as apps.palembang.go.id (no scheme, port or IP)")
    return name


def port_suffix(issuer: str) -> str:
    """``:8000`` when the issuer names a port, else empty: app origins share the hub's scheme and port."""
    port = urlsplit(issuer).port
    return f":{port}" if port else ""


def default_app_host(slug: str, apps_domain: str) -> str:
    return f"{slug}.{apps_domain}"


def app_origin(issuer: str, host: str) -> str:
    """``scheme://host[:port]`` for an app host, with the issuer's scheme and port."""
    return f"{urlsplit(issuer).scheme}://{host}{port_suffix(issuer)}"


def default_resource(issuer: str, apps_domain: str, slug: str) -> str:
    """An app's resource identifier is its origin followed by ``/`` (RFC 8707 §2)."""
    return app_origin(issuer, default_app_host(slug, apps_domain)) + "/"


def legacy_resource(issuer: str, slug: str) -> str:
    """The identifier apps had before they got their own origins: ``{issuer}/apps/{slug}/`` (migration 0005)."""
    return f"{issuer.rstrip('/')}/apps/{slug}/"
