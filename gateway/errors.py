"""Every error the gateway answers, rendered in one place (``gateway.problem``) as RFC 9457 problem+json.

GatewayError (status, title, public detail; ``log_detail`` only for the log)
├── BadRequest 400            ambiguous path, smuggling attempt, malformed header
├── Unauthenticated 401       carries the WWW-Authenticate challenge (RFC 6750 §3, RFC 9470)
├── LoginRedirect 303         a ``session`` app without a session: go sign in (not a problem body)
├── Forbidden 403             the policies said no
├── NotFound 404              no app at this path/host
├── MethodNotAllowed 405      TRACE/CONNECT: never forwarded (TRACE would echo the assertion back)
├── RequestTimeout 408        the client was too slow to send its request
├── Conflict 409              admin API: the change clashes with the current state (duplicate, wrong status)
├── PayloadTooLarge 413
├── UriTooLong 414            a request target longer than the server reads
├── UnsupportedMediaType 415  admin API: a body that is not application/json
├── TooManyRequests 429       carries Retry-After and RateLimit headers
├── HeadersTooLarge 431
├── BadGateway 502            upstream refused, reset or answered garbage
├── ServiceUnavailable 503    app suspended, circuit open, dependency down
└── GatewayTimeout 504        upstream too slow
"""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    title = "Internal Server Error"
    type_slug = "internal"

    def __init__(
        self, detail: str = "", *, headers: tuple[tuple[bytes, bytes], ...] = (), log_detail: str | None = None
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers
        self.log_detail = log_detail


class BadRequest(GatewayError):
    status, title, type_slug = 400, "Bad Request", "bad-request"


class Unauthenticated(GatewayError):
    status, title, type_slug = 401, "Unauthorized", "unauthenticated"


class LoginRedirect(GatewayError):
    status, title, type_slug = 303, "See Other", "login-required"

    def __init__(self, location: str, *, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__("sign in required", headers=((b"location", location.encode()), *headers))
        self.location = location


class Forbidden(GatewayError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(GatewayError):
    status, title, type_slug = 404, "Not Found", "not-found"


class MethodNotAllowed(GatewayError):
    status, title, type_slug = 405, "Method Not Allowed", "method-not-allowed"


class Conflict(GatewayError):
    status, title, type_slug = 409, "Conflict", "conflict"


class RequestTimeout(GatewayError):
    status, title, type_slug = 408, "Request Timeout", "request-timeout"


class PayloadTooLarge(GatewayError):
    status, title, type_slug = 413, "Content Too Large", "payload-too-large"


class UriTooLong(GatewayError):
    status, title, type_slug = 414, "URI Too Long", "uri-too-long"


class UnsupportedMediaType(GatewayError):
    status, title, type_slug = 415, "Unsupported Media Type", "unsupported-media-type"


class TooManyRequests(GatewayError):
    status, title, type_slug = 429, "Too Many Requests", "rate-limited"


class HeadersTooLarge(GatewayError):
    status, title, type_slug = 431, "Request Header Fields Too Large", "headers-too-large"


class BadGateway(GatewayError):
    status, title, type_slug = 502, "Bad Gateway", "bad-gateway"


class ServiceUnavailable(GatewayError):
    status, title, type_slug = 503, "Service Unavailable", "unavailable"


class GatewayTimeout(GatewayError):
    status, title, type_slug = 504, "Gateway Timeout", "gateway-timeout"
