"""The hub's origin under TLS (idp.hub_origin): __Host- cookies only, and HSTS."""

from __future__ import annotations

import asyncio
from typing import Any

from idp.hub_origin import HubOriginGuard, believed_cookies, host_prefixed


def test_the_hub_believes_only_host_prefixed_gerbang_cookies() -> None:
    header = "gerbang_session=tossed; __Host-gerbang_csrf=real; theme=dark; __Host-gerbang_session=mine; GERBANG_x=1"
    assert believed_cookies(header) == (
        "__Host-gerbang_csrf=real; gerbang_csrf=real; theme=dark; __Host-gerbang_session=mine; gerbang_session=mine"
    )


def test_every_cookie_the_hub_sets_becomes_host_prefixed() -> None:
    assert (
        host_prefixed("gerbang_interaction=abc; HttpOnly; Path=/auth; SameSite=lax")
        == "__Host-gerbang_interaction=abc; HttpOnly; SameSite=lax; Path=/; Secure"
    )
    assert (
        host_prefixed(
            '__Host-gerbang_session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; '
            "Domain=palembang.go.id; Secure"
        )
        == '__Host-gerbang_session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure'
    )


def run(tls: bool, cookie: bytes, set_cookie: bytes) -> tuple[list[tuple[bytes, bytes]], list[Any]]:
    seen: list[list[tuple[bytes, bytes]]] = []
    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["headers"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"set-cookie", set_cookie)]})

    async def send(message: Any) -> None:
        sent.append(message)

    guard = HubOriginGuard(HubOriginGuard(app, tls), tls)  # stacked: applied once
    asyncio.run(guard({"type": "http", "headers": [(b"cookie", cookie)]}, None, send))
    return seen[0], sent[0]["headers"]


def test_under_tls_the_guard_applies_once_and_adds_hsts() -> None:
    seen, headers = run(True, b"gerbang_lang=en; __Host-gerbang_lang=id", b"gerbang_lang=en; Path=/")
    assert seen == [(b"cookie", b"__Host-gerbang_lang=id; gerbang_lang=id")]
    assert headers == [
        (b"set-cookie", b"__Host-gerbang_lang=en; Path=/; Secure"),
        (b"strict-transport-security", b"max-age=31536000"),
    ]


def test_without_tls_nothing_changes() -> None:
    seen, headers = run(False, b"gerbang_lang=en", b"gerbang_lang=en; Path=/")
    assert seen == [(b"cookie", b"gerbang_lang=en")]
    assert headers == [(b"set-cookie", b"gerbang_lang=en; Path=/")]
