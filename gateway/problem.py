"""The one renderer of gateway errors: ``application/problem+json`` (RFC 9457).

The body carries only the error's public text; ``instance`` is the request id, so a citizen
quoting it lets an operator find the log line, which carries ``log_detail``.
``LoginRedirect`` is not a problem: it renders as a plain 303 to the sign-in page.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import Response
from starlette.types import Scope, Send

from gateway.errors import GatewayError, LoginRedirect

log = logging.getLogger("gerbang.gateway")

PROBLEM_TYPE = "urn:gerbang:problem:"
CONTENT_TYPE = b"application/problem+json"


def build_problem(error: GatewayError, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for ``error``; logs its private detail with the request id."""
    if error.log_detail or error.status >= 500:
        log.log(
            logging.WARNING if error.status >= 500 else logging.INFO,
            "gateway %s %s request_id=%s detail=%s",
            error.status,
            error.type_slug,
            request_id,
            error.log_detail or error.detail,
        )
    headers = [(b"x-request-id", request_id.encode()), *error.headers]
    if isinstance(error, LoginRedirect):
        return error.status, [*headers, (b"content-length", b"0")], b""
    document: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.type_slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail or error.title,
        "instance": request_id,  # a relative URI reference (RFC 9457 §3.1.5)
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    headers += [
        (b"content-type", CONTENT_TYPE),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    return error.status, headers, body


async def send_problem(send: Send, error: GatewayError, request_id: str, *, close: bool = False) -> None:
    """Answer ``error`` on a raw ASGI ``send``; ``close`` ends the connection (a client we stopped reading)."""
    status, headers, body = build_problem(error, request_id)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_websocket_denial(send: Send, scope: Scope, error: GatewayError, request_id: str) -> None:
    """Refuse a WebSocket handshake with the problem as an HTTP response where the server allows it."""
    if "websocket.http.response" in scope.get("extensions", {}):
        status, headers, body = build_problem(error, request_id)
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    build_problem(error, request_id)  # logs
    await send({"type": "websocket.close", "code": 1008 if error.status < 500 else 1011})


def problem_response(error: GatewayError, request_id: str) -> Response:
    """The same problem as a starlette ``Response`` for the parts of the hub built on starlette."""
    status, headers, body = build_problem(error, request_id)
    response = Response(body, status_code=status)
    response.raw_headers = [(name, value) for name, value in headers]
    return response
