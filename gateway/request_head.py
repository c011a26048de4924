"""Step one of the pipeline: read and check the request head from the ASGI scope, once.

Everything later steps need is taken from the scope here and nowhere else: the normalised
path (from the raw bytes), the host used for host-based routing (never for choosing the
upstream), the real client address and the forwarding chain, request id and trace context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import Scope

from gateway.errors import BadRequest, MethodNotAllowed
from gateway.headers import check_request_headers, is_chunked
from gateway.model import RequestHead
from gateway.paths import normalise_path
from idp.client_address import Headers, Network, is_trusted, resolve_client_ip

_HOST = re.compile(r"[a-z0-9.\-]{1,253}|\[[0-9a-f:.]{2,45}\]")
_FORWARDED_PROTO = {b"http": "http", b"https": "https"}
# TRACE would reflect the request, X-Gerbang-Assertion included, back to the client (RFC 9110 §9.3.8).
_REFUSED_METHODS = frozenset({"TRACE", "CONNECT"})
ALLOWED_METHODS = b"GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """The checked head plus what only the proxy needs: forwarding chain and body framing."""

    head: RequestHead
    forwarded_for: str
    forwarded_proto: str
    forwarded_host: str
    content_length: int | None
    chunked: bool


def read_request_head(
    scope: Scope, request_id: str, traceparent: str, max_header_bytes: int, trusted: tuple[Network, ...]
) -> InboundRequest:
    client = scope.get("client")
    return read_head(
        scope.get("method", "GET"),
        scope.get("raw_path") or scope["path"].encode(),
        scope.get("query_string", b""),
        scope["headers"],
        client[0] if client else "unknown",
        "https" if scope["scheme"] in ("https", "wss") else "http",
        request_id,
        traceparent,
        max_header_bytes,
        trusted,
    )


def read_head(
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: Headers,
    peer: str,
    scheme: str,
    request_id: str,
    traceparent: str,
    max_header_bytes: int,
    trusted: tuple[Network, ...],
) -> InboundRequest:
    """The one reading of a request head (the ASGI scope's parts, or the app plane's parser's)."""
    if method in _REFUSED_METHODS:
        raise MethodNotAllowed(f"{method} is not forwarded", headers=((b"allow", ALLOWED_METHODS),))
    content_length = check_request_headers(headers, max_header_bytes)
    path = normalise_path(raw_path)
    host_header = _single(headers, b"host")
    host = build_host(host_header)
    client_ip, chain = resolve_client_ip(peer, headers, trusted)
    proto = scheme
    forwarded_host = host_header.decode("latin-1") if host_header else ""
    if is_trusted(peer, trusted):
        proto = _FORWARDED_PROTO.get((_single(headers, b"x-forwarded-proto") or b"").strip().lower(), scheme)
        forwarded_host = (_single(headers, b"x-forwarded-host") or b"").decode("latin-1") or forwarded_host
    head = RequestHead(
        method=method,
        path=path,
        query=query,
        headers=tuple(headers),
        client_ip=client_ip,
        scheme=proto,
        host=host,
        request_id=request_id,
        traceparent=traceparent,
    )
    return InboundRequest(head, ", ".join(chain), proto, forwarded_host, content_length, is_chunked(headers))


def build_host(value: bytes | None) -> str:
    """The lower-case host name without port; an HTTP/1.1 request without a valid Host is refused."""
    if not value:
        raise BadRequest("the Host header is missing")
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        host = text.split("]", 1)[0] + "]"
    else:
        host = text.rsplit(":", 1)[0] if ":" in text else text
    if not _HOST.fullmatch(host):
        raise BadRequest("the Host header is invalid", log_detail=f"host {value[:100]!r}")
    return host


def _single(headers: Headers, name: bytes) -> bytes | None:
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            if found is not None:
                raise BadRequest(f"more than one {name.decode()} header")
            found = value
    return found
