"""Signing in to Kominfo's console: the console is an OpenID Connect client of the hub's own provider.

``/admin/login`` → ``/auth/authorize`` (code + PKCE, client ``gerbang-console``, ``max_age`` =
``admin_reauth_seconds`` so an administrator who signed in long ago must sign in again, OIDC Core §3.1.2.1)
→ ``/admin/callback`` exchanges the code, verifies the ID token (nonce, ``auth_time``) and makes a server-side
console session that ends at ``auth_time + admin_reauth_seconds``. Forms carry a CSRF token derived from the
session id (HMAC), checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.admin.console_client import CONSOLE_CLIENT_ID, CONSOLE_SCOPE, console_client_secret
from gateway.admin.http import admin_resource
from gateway.session_client import basic_auth
from idp.clock import Clock
from idp.keys import KeyRing
from idp.oauth.verify import TokenInvalid, verify_hub_jwt
from idp.storage.models import ConsoleSession

FLOW_COOKIE = "gerbang_console_flow"
FLOW_TTL = 600


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    session_digest: str
    csrf: str


class ConsoleAuth:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing, issuer: str, secret: bytes,
                 clock: Clock, secure_cookies: bool, reauth_seconds: int,
                 acr_check: Callable[[str, str | None], Awaitable[None]] | None = None) -> None:
        self._sessionmaker = sessionmaker
        # Raises gateway.admin.console_acr.SecondFactorRequired for a Kominfo admin below the console's level.
        self._acr_check = acr_check
        self._keys = keys
        self._issuer = issuer.rstrip("/")
        self._client_secret = console_client_secret(secret)
        self._key = hashlib.sha256(b"gerbang-console" + secret).digest()
        self._clock = clock
        self._secure = secure_cookies
        self.reauth_seconds = reauth_seconds
        self.cookie = "__Host-gerbang_console" if secure_cookies else "gerbang_console"

    async def load(self, request: Request) -> SignedIn | None:
        value = request.cookies.get(self.cookie)
        if not value:
            return None
        digest = _digest(value)
        async with self._sessionmaker() as session:
            row = await session.get(ConsoleSession, digest)
        if row is None or row.ended_at is not None or row.expires_at <= self._clock.now():
            return None
        return SignedIn(row.user_id, digest, self._mac(f"csrf:{digest}"))

    def is_csrf_valid(self, signed_in: SignedIn, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(signed_in.csrf, presented)

    async def login(self, request: Request) -> Response:
        state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": CONSOLE_CLIENT_ID,
                  "redirect_uri": f"{self._issuer}/admin/callback", "scope": CONSOLE_SCOPE, "state": state,
                  "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
                  "max_age": str(self.reauth_seconds), "resource": admin_resource(self._issuer),
                  "acr_values": "2"}  # the provider steps a session up to a second factor when the user has one
        response = RedirectResponse(f"/auth/authorize?{urlencode(params)}", status_code=303)
        response.set_cookie(FLOW_COOKIE, self._seal([state, nonce, verifier, self._clock.now()]), max_age=FLOW_TTL,
                            httponly=True, samesite="lax", secure=self._secure, path="/admin")
        return response

    async def callback(self, request: Request) -> Response | None:
        """The signed-in redirect, or None when the flow is invalid (the caller renders the error page)."""
        flow = self._unseal(request.cookies.get(FLOW_COOKIE))
        query = request.query_params
        if (flow is None or not hmac.compare_digest(query.get("state", ""), str(flow[0]))
                or query.get("iss") != self._issuer or "code" not in query):
            return None
        claims = await self._exchange(query["code"], str(flow[2]))
        now = self._clock.now()
        if claims is None or claims.get("nonce") != flow[1] or not isinstance(claims.get("auth_time"), int):
            return None
        if now - claims["auth_time"] > self.reauth_seconds:  # max_age honoured (OIDC Core §3.1.2.1)
            return None
        if self._acr_check is not None:
            await self._acr_check(claims["sub"], claims.get("acr"))
        value = secrets.token_urlsafe(32)
        async with self._sessionmaker() as session, session.begin():
            session.add(ConsoleSession(id_digest=_digest(value), user_id=claims["sub"], auth_time=claims["auth_time"],
                                       created_at=now, expires_at=claims["auth_time"] + self.reauth_seconds))
        response = RedirectResponse("/admin/", status_code=303)
        response.set_cookie(self.cookie, value, httponly=True, samesite="strict", secure=self._secure, path="/")
        response.delete_cookie(FLOW_COOKIE, path="/admin")
        return response

    async def logout(self, signed_in: SignedIn) -> Response:
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(ConsoleSession, signed_in.session_digest)
            if row is not None and row.ended_at is None:
                row.ended_at = self._clock.now()
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(self.cookie, path="/")
        return response

    async def _exchange(self, code: str, verifier: str) -> dict | None:
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": f"{self._issuer}/admin/callback"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.post(f"{self._issuer}/auth/token", data=form, headers={
                    "Authorization": basic_auth(CONSOLE_CLIENT_ID, self._client_secret)}) as response:
                if response.status != 200:
                    return None
                tokens = await response.json()
        try:
            return verify_hub_jwt(self._keys, tokens["id_token"], self._issuer, typ="jwt", audience=CONSOLE_CLIENT_ID)
        except (TokenInvalid, KeyError):
            return None

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def _seal(self, values: list[object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
        return f"{payload}.{self._mac(payload)}"

    def _unseal(self, value: str | None) -> list[object] | None:
        if not value or "." not in value:
            return None
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        values = json.loads(base64.urlsafe_b64decode(payload))
        if not isinstance(values, list) or len(values) != 4 or values[3] + FLOW_TTL < self._clock.now():
            return None
        return values


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
