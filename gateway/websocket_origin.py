"""Cross-site WebSocket hijacking (RFC 6455 §10.2): a browser opens a WebSocket from any page, with the user's
cookies, and only the ``Origin`` header says which page asked. A handshake to an app is accepted only from the
app's own origins and the origins the app declared (``websocket_origins``). A handshake without ``Origin``
comes from a non-browser client, which carries its own credentials, and passes; ``Origin: null`` (sandboxed
frames, ``file:``, redirects) does not.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.errors import BadRequest, Forbidden
from gateway.model import RequestHead, Route

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def app_origins(route: Route, hub_origin: str) -> frozenset[str]:
    """The origins an app's own pages are served from: every host the app is served at (``route.hosts``, its
    default ``{slug}.{apps_domain}`` first), with the hub's scheme and port. Never the hub's own origin: no
    app is served there. The one place that knows where an app lives."""
    parts = urlsplit(hub_origin)
    port = f":{parts.port}" if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme) else ""
    origins = {normalise_origin(f"{parts.scheme}://{host}{port}") for host in route.hosts}
    return frozenset(origins - {"null"})


def check_websocket_origin(route: Route, head: RequestHead, hub_origin: str) -> None:
    """Raises ``Forbidden`` for a handshake from a page that is neither the app's nor one it allowed."""
    values = [value for name, value in head.headers if name == b"origin"]
    if not values:
        return
    if len(values) > 1:
        raise BadRequest("more than one Origin header")
    origin = normalise_origin(values[0].decode("latin-1"))
    declared = {normalise_origin(allowed) for allowed in route.websocket_origins}
    if origin != "null" and (origin in app_origins(route, hub_origin) or origin in declared):
        return
    raise Forbidden(
        "this page may not open the app's WebSocket",
        log_detail=f"websocket origin {values[0][:200]!r} for app {route.slug}",
    )


def normalise_origin(value: str) -> str:
    """RFC 6454 §6.2 serialisation, lower case, default port dropped; anything else becomes "null"."""
    parts = urlsplit(value.strip().lower())
    try:
        port = parts.port
    except ValueError:
        return "null"
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return "null"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f":{port}" if port and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{shown}"
