"""What the hub's origin sends and believes under TLS: ``__Host-`` cookies only, and HSTS.

``HubOriginGuard`` wraps everything served on the hub's origin (the provider, the console,
``/metrics``). With an https issuer:

- every cookie the hub sets becomes ``__Host-{name}`` with ``Path=/``, ``Secure`` and no ``Domain``
  (RFC 6265bis §4.1.3.2): the CSRF, interaction, language, MFA, passkey and flow cookies as well as
  the session, whatever name the code that set it used;
- of the cookies a browser sends, a ``gerbang*`` cookie counts only under its ``__Host-`` name (handed
  to the code under both names); an unprefixed one is dropped, because any sibling host (an OPD app
  on ``*.apps…``, a script in one) can set it for a parent domain, and a ``__Host-`` cookie it cannot;
- responses carry ``Strict-Transport-Security``.

Without TLS (loopback development) nothing changes. The guard runs once per request however often
it is stacked (the gateway wraps the hub, the provider wraps itself for standalone use).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOST_PREFIX = "__Host-"
HSTS = (b"strict-transport-security", b"max-age=31536000")
_APPLIED = "gerbang.hub_origin"


def is_hub_cookie(name: str) -> bool:
    return name.lower().startswith("gerbang")


def believed_cookies(header: str) -> str:
    """The ``Cookie`` header the hub's code sees: ``__Host-gerbang*`` under both names, bare ``gerbang*`` never."""
    kept: list[str] = []
    for pair in header.split(";"):
        pair = pair.strip()
        name, _, value = pair.partition("=")
        if name.startswith(HOST_PREFIX) and is_hub_cookie(name[len(HOST_PREFIX) :]):
            kept += [pair, f"{name[len(HOST_PREFIX) :]}={value}"]
        elif pair and not is_hub_cookie(name):
            kept.append(pair)
    return "; ".join(kept)


def host_prefixed(set_cookie: str) -> str:
    """A ``Set-Cookie`` value rewritten to ``__Host-name``, ``Path=/``, ``Secure``, without ``Domain``."""
    pair, *attributes = set_cookie.split(";")
    name, _, value = pair.strip().partition("=")
    if not name.startswith(HOST_PREFIX):
        name = HOST_PREFIX + name
    kept = [
        a.strip() for a in attributes if a.strip().split("=", 1)[0].strip().lower() not in ("domain", "path", "secure")
    ]
    return "; ".join([f"{name}={value}", *kept, "Path=/", "Secure"])


class HubOriginGuard:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.tls or scope["type"] not in ("http", "websocket") or scope.get(_APPLIED):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope[_APPLIED] = True
        scope["headers"] = [
            (name, believed_cookies(value.decode("latin-1")).encode("latin-1")) if name == b"cookie" else (name, value)
            for name, value in scope["headers"]
        ]

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, host_prefixed(value.decode("latin-1")).encode("latin-1"))
                    if name.lower() == b"set-cookie"
                    else (name, value)
                    for name, value in message.get("headers", [])
                ]
                if not any(name.lower() == HSTS[0] for name, _ in headers):
                    headers.append(HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, guarded_send)
