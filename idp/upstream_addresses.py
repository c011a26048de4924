"""Which addresses the hub may connect to for an app or a client (server-side request forgery).

An OPD operator registers an upstream, a client registers a back-channel logout URI; the gateway, the
bypass probe, the WebSocket proxy and the provider's back-channel logout then connect to them from inside
Kominfo's network. Some addresses must never be reachable that way unless Kominfo allows them by setting
(``GERBANG_UPSTREAM_ALLOW``, CIDRs):

- loopback (127.0.0.0/8, ::1) — the hub itself, Redis, PostgreSQL, anything bound to localhost;
- link-local (169.254.0.0/16, fe80::/10) — cloud metadata services (169.254.169.254) live here;
- unspecified, multicast and broadcast (0.0.0.0/8, ::, 224.0.0.0/4, ff00::/8, 255.255.255.255);
- cloud metadata addresses outside those ranges (100.100.100.200, fd00:ec2::254).

IPv6 forms that carry an IPv4 address (``::ffff:169.254.169.254``, NAT64 ``64:ff9b::/96``, 6to4) are
judged by that address. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are where OPD apps live and
are allowed, unless listed in ``GERBANG_UPSTREAM_DENY``. Allow wins over every refusal (so a test bench
or the demo may allow loopback), deny over the default allowance.

Checked at registration (``check_upstream_address``: the CLI, the admin API and console, approval; host
names are resolved and every address must pass), when the registry loads (literal addresses; a refused
upstream is left out of the route), and at connect time (``socket_factory`` refuses the socket for a
refused address, whatever a name resolves to by then: DNS rebinding). Back-channel logout deliveries
open their sockets through the same ``socket_factory``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from idp.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED_BY_DEFAULT: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/10", "link-local"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("100.100.100.200/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 3.0


class UpstreamRefused(OSError):
    """An upstream address Kominfo's settings do not allow (an OSError: connect-time refusals are socket errors)."""


class UpstreamAddresses:
    """The allow/deny decision for an upstream's address; built once from settings."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.allow: tuple[Network, ...] = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allow)
        refused = [(ipaddress.ip_network(cidr), why) for cidr, why in REFUSED_BY_DEFAULT]
        refused += [(ipaddress.ip_network(cidr, strict=False), "denied by GERBANG_UPSTREAM_DENY") for cidr in deny]
        self.refused: tuple[tuple[Network, str], ...] = tuple(refused)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be connected to, or None when it may."""
        try:
            ip = embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            return f"{address} is not an IP address"
        if any(ip in network for network in self.allow):
            return None
        for network, why in self.refused:
            if ip in network:
                return f"{ip} is {why} ({network})"
        return None

    def check(self, address: str) -> None:
        why = self.refusal(address)
        if why is not None:
            raise UpstreamRefused(f"upstream address refused: {why}; Kominfo can allow it with GERBANG_UPSTREAM_ALLOW")

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """aiohttp's ``TCPConnector(socket_factory=...)``: the last moment before connecting, after resolution."""
        family, kind, proto, _canonical, sockaddr = addr_info
        self.check(sockaddr[0])
        return socket.socket(family=family, type=kind, proto=proto)


def build_upstream_addresses(settings: Settings) -> UpstreamAddresses:
    """From the hub's settings (``GERBANG_UPSTREAM_ALLOW``, ``GERBANG_UPSTREAM_DENY``)."""
    return UpstreamAddresses(settings.upstream_allow, settings.upstream_deny)


def embedded_ipv4(ip: Address) -> Address:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), or the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def literal_host(url: str) -> str | None:
    """The upstream URL's host when it is an IP address literal, else None."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host


async def check_upstream_address(url: str, addresses: UpstreamAddresses) -> None:
    """Registration: the URL's host, and for a name every address it resolves to now, must be allowed.

    A name that does not resolve from here is accepted: the connect-time check still holds.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = literal_host(url)
    if literal is not None:
        addresses.check(literal)
        return
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):
        return
    for info in infos:
        addresses.check(str(info[4][0]))
