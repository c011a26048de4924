"""``*.localhost`` resolves to loopback in the test process, as in every current browser (RFC 6761 §6.3).

The OS resolver here does not implement it (``parkir.localhost`` is "Name or service not known"), and the
gateway serves each app on its own host (``{slug}.localhost`` with a loopback issuer). Clients in tests
(httpx, aiohttp, requests, urllib) then address apps by their real URL, and their cookie jars keep the
hub's and each app's cookies apart, as a browser does. Only what is outside our code is replaced: the name
lookup.
"""

from __future__ import annotations

import socket
from typing import Any

_original = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _original(host, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = _getaddrinfo


def app_url(base: str, slug: str) -> str:
    """The app ``slug``'s own origin on the hub at ``base`` (same scheme and port): ``http://{slug}.localhost:port``."""
    scheme, rest = base.split("://", 1)
    port = rest.split("/", 1)[0].rsplit(":", 1)[1]
    return f"{scheme}://{slug}.localhost:{port}"
