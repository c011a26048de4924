"""Signing in to Kominfo's console: the console is an OpenID Connect client of the hub's own provider.

``/admin/login`` → ``/auth/authorize`` (code + PKCE, client ``gerbang-console``, ``max_age`` =
``admin_reauth_seconds`` so an administrator who signed in long ago must sign in again, OIDC Core §3.1.2.1)
→ ``/admin/callback`` exchanges the code, verifies the ID token (nonce, ``auth_time``) and makes a server-side
console session that ends at ``auth_time + admin_reauth_seconds``. Forms carry a CSRF token derived from the
session id (HMAC), checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.admin.console_client import CONSOLE_CLIENT_ID, CONSOLE_SCOPE, console_client_secret
from gateway.admin.http import admin_resource
from gateway.hub_relying_party import FLOW_TTL, HubRelyingParty
from gateway.session_store import add_console_session, end_console_session, load_console_session, session_digest
from idp.clock import Clock
from idp.keys import KeyRing

FLOW_COOKIE = "gerbang_console_flow"


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    session_digest: str
    csrf: str


class ConsoleAuth:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keys: KeyRing,
        issuer: str,
        secret: bytes,
        clock: Clock,
        secure_cookies: bool,
        reauth_seconds: int,
        acr_check: Callable[[str, str | None], Awaitable[None]] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # Raises gateway.admin.console_acr.SecondFactorRequired for a Kominfo admin below the console's level.
        self._acr_check = acr_check
        self._issuer = issuer.rstrip("/")
        self._key = hashlib.sha256(b"gerbang-console" + secret).digest()
        self._party = HubRelyingParty(keys, issuer, CONSOLE_CLIENT_ID, console_client_secret(secret), self._key, clock)
        self._clock = clock
        self._secure = secure_cookies
        self.reauth_seconds = reauth_seconds
        self.cookie = "__Host-gerbang_console" if secure_cookies else "gerbang_console"

    async def load(self, request: Request) -> SignedIn | None:
        value = request.cookies.get(self.cookie)
        if not value:
            return None
        digest = session_digest(value)
        async with self._sessionmaker() as session:
            row = await load_console_session(session, digest)
        if row is None or row.ended_at is not None or row.expires_at <= self._clock.now():
            return None
        return SignedIn(row.user_id, digest, self._mac(f"csrf:{digest}"))

    def is_csrf_valid(self, signed_in: SignedIn, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(signed_in.csrf, presented)

    async def login(self, request: Request) -> Response:
        # acr_values: the provider steps a session up to a second factor when the user has one.
        _, params, sealed = self._party.begin(
            f"{self._issuer}/admin/callback",
            CONSOLE_SCOPE,
            max_age=str(self.reauth_seconds),
            resource=admin_resource(self._issuer),
            acr_values="2",
        )
        response = RedirectResponse(f"/auth/authorize?{urlencode(params)}", status_code=303)
        response.set_cookie(
            FLOW_COOKIE, sealed, max_age=FLOW_TTL, httponly=True, samesite="lax", secure=self._secure, path="/admin"
        )
        return response

    async def callback(self, request: Request) -> Response | None:
        """The signed-in redirect, or None when the flow is invalid (the caller renders the error page)."""
        flow = self._party.open_flow(request.cookies.get(FLOW_COOKIE))
        query = request.query_params
        if flow is None or not self._party.is_callback_valid(flow, query):
            return None
        claims = await self._party.redeem(query["code"], flow, f"{self._issuer}/admin/callback")
        now = self._clock.now()
        if claims is None or not isinstance(claims.get("auth_time"), int):
            return None
        if now - claims["auth_time"] > self.reauth_seconds:  # max_age honoured (OIDC Core §3.1.2.1)
            return None
        if self._acr_check is not None:
            await self._acr_check(claims["sub"], claims.get("acr"))
        value = secrets.token_urlsafe(32)
        async with self._sessionmaker() as session, session.begin():
            add_console_session(
                session,
                session_digest(value),
                claims["sub"],
                claims["auth_time"],
                now,
                expires_at=claims["auth_time"] + self.reauth_seconds,
            )
        response = RedirectResponse("/admin/", status_code=303)
        response.set_cookie(self.cookie, value, httponly=True, samesite="strict", secure=self._secure, path="/")
        response.delete_cookie(FLOW_COOKIE, path="/admin")
        return response

    async def logout(self, signed_in: SignedIn) -> Response:
        async with self._sessionmaker() as session, session.begin():
            await end_console_session(session, signed_in.session_digest, self._clock.now())
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(self.cookie, path="/")
        return response

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
