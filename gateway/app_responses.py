"""What an app may send to the browser: nothing that reaches beyond its own origin.

An app's response headers pass through ``AppResponseGuard.filter`` before the client sees them:

- ``Set-Cookie`` whose ``Domain`` covers the hub's host or the apps' parent domain (a cookie the
  hub, or every other app, would receive: cookie tossing, session fixation) is dropped;
- ``Set-Cookie`` for a name like one of the hub's (``gerbang*``, with or without a ``__Host-`` or
  ``__Secure-`` prefix, any case) is dropped: the hub's and the gateway's cookies are never the app's;
- ``Service-Worker-Allowed`` is dropped (a worker scope wider than the script's own directory);
- under TLS the gateway's ``Strict-Transport-Security`` replaces the app's (an app cannot weaken it).

Every drop is logged with the app and counted in ``gerbang_gateway_response_headers_dropped_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from idp.app_origins import hub_host

log = logging.getLogger("gerbang.gateway.responses")

Headers = list[tuple[bytes, bytes]]
HSTS = (b"strict-transport-security", b"max-age=31536000")
_COOKIE_PREFIXES = ("__host-", "__secure-")


def is_hub_cookie_name(name: str) -> bool:
    """The hub's (and the gateway's) cookie namespace: ``gerbang*``, prefixes and case ignored."""
    lowered = name.strip().lower()
    for prefix in _COOKIE_PREFIXES:
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix) :]
            break
    return lowered.startswith("gerbang")


class HubCookieNames:
    """A container answering ``name in HUB_COOKIE_NAMES`` for every hub cookie (request side: never forwarded)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and is_hub_cookie_name(name)

    def __bool__(self) -> bool:
        return True


HUB_COOKIE_NAMES = HubCookieNames()


def domain_covers(domain: str, host: str) -> bool:
    """RFC 6265 §5.1.3 domain-match: would a cookie for ``domain`` be sent to ``host``?"""
    return host == domain or host.endswith("." + domain)


class AppResponseGuard:
    def __init__(
        self, issuer: str, apps_domain: str, tls: bool, on_drop: Callable[[str, str], None] | None = None
    ) -> None:
        self.hub_host = hub_host(issuer)
        self.apps_domain = apps_domain
        self.tls = tls
        self.on_drop = on_drop

    def filter(self, app: str, headers: Headers) -> Headers:
        out: Headers = []
        for name, value in headers:
            reason = self._refusal(name, value)
            if reason is not None:
                self._dropped(app, reason, name, value)
                continue
            out.append((name, value))
        if self.tls:
            out.append(HSTS)
        return out

    def _refusal(self, name: bytes, value: bytes) -> str | None:
        if name == b"set-cookie":
            lowered = value.lstrip().lower()
            if b"domain" not in lowered and b"gerbang" not in lowered:  # most cookies: nothing to look at
                return None
            return self._cookie_refusal(value.decode("latin-1"))
        if name == b"service-worker-allowed":
            return "service-worker-allowed"
        if name == b"strict-transport-security" and self.tls:
            return "hsts-replaced"
        return None

    def _cookie_refusal(self, cookie: str) -> str | None:
        pair, *attributes = cookie.split(";")
        if is_hub_cookie_name(pair.split("=", 1)[0]):
            return "cookie-hub-name"
        for attribute in attributes:
            key, _, domain = attribute.partition("=")
            if key.strip().lower() != "domain":
                continue
            domain = domain.strip().lstrip(".").rstrip(".").lower()
            if not domain or domain_covers(domain, self.hub_host) or domain_covers(domain, self.apps_domain):
                return "cookie-domain"
        return None

    def _dropped(self, app: str, reason: str, name: bytes, value: bytes) -> None:
        if reason == "hsts-replaced":  # replaced by the gateway's own, not refused
            return
        log.warning(
            "dropped an app response header app=%s reason=%s header=%s value=%.200r",
            app,
            reason,
            name.decode("latin-1"),
            value.decode("latin-1"),
        )
        if self.on_drop is not None:
            self.on_drop(app, reason)
