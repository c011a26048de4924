"""The client's address, behind the city's load balancers: the one function every limit and log uses.

``resolve_client_ip`` walks ``X-Forwarded-For`` right to left only while each hop is one of
``GERBANG_TRUSTED_PROXIES``, so a chain the client wrote itself is never believed. The app plane
(``gateway.request_head``), ``/metrics`` (``gateway.operations``) call it directly; the provider, the console
and the gateway's sign-in pages get it through ``ClientAddress``, which resolves once per request and puts the
result in the ASGI scope's ``client``, so ``request.client.host`` is the citizen's address everywhere (the login
and token limits, sessions, logs). Without it, behind one load balancer every citizen shared one address and its
30 sign-ins a minute.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

Headers = Sequence[tuple[bytes, bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "gerbang.peer"  # the connection's own address, kept in the scope beside the resolved one


def build_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_for_chain(headers: Headers) -> list[str]:
    chain: list[str] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            chain.extend(part.strip() for part in value.decode("latin-1").split(",") if part.strip())
    return chain


def resolve_client_ip(peer: str, headers: Headers, networks: tuple[Network, ...]) -> tuple[str, list[str]]:
    """The real client address, and the ``X-Forwarded-For`` chain to send on (ending with the peer).

    A chain the client wrote itself is never believed: entries are read right to left only
    while each hop is a trusted proxy.
    """
    if not is_trusted(peer, networks):
        return peer, [peer]
    chain = forwarded_for_chain(headers)
    client = peer
    for hop in reversed(chain):
        client = hop
        if not is_trusted(hop, networks):
            break
    return client, [*chain, peer]


class ClientAddress:
    """ASGI middleware: ``scope["client"]`` becomes the resolved client address (the peer is kept under
    ``gerbang.peer``). Nothing changes without trusted proxies."""

    def __init__(self, app: Any, networks: tuple[Network, ...]) -> None:
        self.app, self.networks = app, networks

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.networks and scope["type"] in ("http", "websocket") and PEER_KEY not in scope:
            client = scope.get("client")
            peer = client[0] if client else ""
            resolved, _ = resolve_client_ip(peer, scope["headers"], self.networks)
            if resolved != peer:
                scope = {**scope, "client": (resolved, client[1] if client else 0), PEER_KEY: peer}
        await self.app(scope, receive, send)
