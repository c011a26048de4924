"""Header hygiene between the client, the gateway and the upstream (RFC 9110 §7.6.1, RFC 9112 §6.3).

``check_request_headers`` refuses what lets a request mean two things (request smuggling:
both Content-Length and Transfer-Encoding, several or invalid Content-Length — uvicorn
accepts these), an ``h2c`` upgrade, and oversized heads. ``build_upstream_headers`` drops
hop-by-hop headers, including every one the client names in ``Connection`` — but the
headers the gateway itself adds are added afterwards, so ``Connection: X-Gerbang-Assertion``
cannot remove them — and strips every identity-shaped header the client sent (the table in
``gateway.identity_headers``: ``X-Gerbang-*``, ``X-Forwarded-*``, ``X-User-Id``, ``X-Original-URL``...,
and any name with ``_``). ``X-Forwarded-*`` are rebuilt; the client address comes from the peer, walking ``X-Forwarded-For`` only through
configured trusted proxies. ``X-Request-Id`` and W3C ``traceparent`` are kept when sane,
generated otherwise.
"""

from __future__ import annotations

import random
import re
from collections.abc import Container, Iterable

from gateway.errors import BadRequest, HeadersTooLarge
from gateway.identity_headers import is_identity_header

# The client address is resolved by one function, shared with the provider: idp.client_address.
from idp.client_address import Headers

# RFC 9110 §7.6.1 plus the legacy ones every proxy drops.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
# Set by the gateway or its HTTP client; whatever the client sent under these names is dropped. Identity-shaped
# headers (X-Forwarded-*, X-Gerbang-*, X-User-Id...) are in their own table: ``gateway.identity_headers``.
GATEWAY_SET = frozenset(
    {
        b"host",
        b"x-request-id",
        b"traceparent",
        b"content-length",
        b"expect",  # 100-continue is answered by our server to the client; the upstream gets the body at once
    }
)
# Never forwarded to a WebSocket upstream: aiohttp runs its own handshake (RFC 6455 §4.1).
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
# Set by the gateway's own server on every response; the upstream's copy would be a duplicate.
RESPONSE_SET = frozenset({b"date"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{8,128}")
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_DIGITS = re.compile(rb"[0-9]{1,19}")


def check_request_headers(headers: Headers, max_bytes: int) -> int | None:
    """Refuse a head that is too large or ambiguous; returns the declared Content-Length, if any."""
    total = 0
    lengths: list[bytes] = []
    chunked = False
    for name, value in headers:
        total += len(name) + len(value) + 4
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            if value.strip().lower() != b"chunked" or chunked:
                raise BadRequest("unsupported Transfer-Encoding", log_detail=f"transfer-encoding {value[:100]!r}")
            chunked = True
        elif name == b"upgrade" and b"h2c" in value.lower():
            raise BadRequest("h2c upgrade is not supported")
        elif name == b"http2-settings":
            raise BadRequest("h2c upgrade is not supported")
    if total > max_bytes:
        raise HeadersTooLarge(f"request headers exceed {max_bytes} bytes")
    if not lengths:
        return None
    if chunked:
        raise BadRequest("both Content-Length and Transfer-Encoding", log_detail="possible request smuggling")
    if len(lengths) > 1 or not _DIGITS.fullmatch(lengths[0]):
        raise BadRequest("invalid Content-Length", log_detail=f"content-length values {lengths[:5]!r}")
    return int(lengths[0])


def is_chunked(headers: Headers) -> bool:
    return any(name == b"transfer-encoding" for name, _ in headers)


def build_request_id(headers: Headers) -> str:
    """The client's ``X-Request-Id`` when it is a sane token, a fresh random one otherwise."""
    for name, value in headers:
        if name == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return new_id(128)


def new_id(bits: int) -> str:
    """A random hex identifier for correlation (request ids, span ids): unique, not a secret."""
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def build_traceparent(headers: Headers, request_id: str) -> str:
    """W3C Trace Context §3.2: pass a valid ``traceparent`` on; start a trace when it is absent or invalid."""
    for name, value in headers:
        if name == b"traceparent":
            match = _TRACEPARENT.fullmatch(value.strip())
            if match and match[1] != b"ff" and match[2] != b"0" * 32 and match[3] != b"0" * 16:
                return value.strip().decode("ascii")
            break
    trace_id = request_id if _TRACE_ID.fullmatch(request_id) and request_id != "0" * 32 else new_id(128)
    return f"00-{trace_id}-{new_id(64)}-00"


def named_in_connection(headers: Headers) -> frozenset[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return frozenset(named)


def build_upstream_headers(
    headers: Headers,
    added: Iterable[tuple[str, str]],
    *,
    websocket: bool = False,
    hidden_cookies: Container[str] = frozenset(),
) -> list[tuple[str, str]]:
    """What goes upstream: the client's end-to-end headers, then the gateway's own (never removable).

    ``hidden_cookies`` are the hub's own cookies (its session): an OPD app never sees them.
    """
    dropped = named_in_connection(headers)
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if (
            name in HOP_BY_HOP
            or name in GATEWAY_SET
            or name in dropped
            or is_identity_header(name)
            or (websocket and name in WEBSOCKET_HANDSHAKE)
        ):
            continue
        if name == b"cookie" and hidden_cookies:
            kept = remove_cookies(value.decode("latin-1"), hidden_cookies)
            if kept:
                out.append(("cookie", kept))
            continue
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    out.extend(added)
    return out


def remove_cookies(header: str, names: Container[str]) -> str:
    """A ``Cookie`` header (RFC 6265 §5.4) without the named cookies."""
    pairs = [pair.strip() for pair in header.split(";")]
    return "; ".join(pair for pair in pairs if pair and pair.split("=", 1)[0].strip() not in names)


def build_response_headers(raw: Headers, added: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's end-to-end response headers for the client, then the gateway's (which replace
    any the upstream sent under the same names)."""
    added = list(added)
    replaced = {name for name, _ in added}
    out: list[tuple[bytes, bytes]] = []
    dropped: set[bytes] = set()
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"connection":
            dropped.update(token.strip().lower() for token in value.split(b","))
        if lowered in HOP_BY_HOP or lowered in replaced or lowered in RESPONSE_SET:
            continue
        out.append((lowered, value))
    if dropped:
        out = [(name, value) for name, value in out if name not in dropped]
    out.extend(added)
    return out
