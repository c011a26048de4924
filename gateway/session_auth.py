"""``session`` apps: the gateway is an OpenID Connect relying party of the provider, on each app's own host.

No session on the app's host → ``LoginRedirect`` to ``/.gerbang/login`` (same host) → the provider's
authorization endpoint (code + PKCE, first-party client ``gerbang-gateway``; the hub's own session makes
it single sign-on: no second password for the next app) → ``{app origin}/.gerbang/callback`` exchanges the
code, verifies the ID token and makes a server-side session bound to that app (cookie: a random id,
host-only on the app's host, ``__Host-`` under TLS, HttpOnly, SameSite=Lax; storage: its digest).

It ends with the provider's session (a logout listener: account page, RP-initiated logout, "sign out
everywhere", back-channel), or at ``/.gerbang/logout``: GET only asks (a cross-site ``<img>`` must not sign
anyone out), the POST carries a token bound to the session, ends it and hands over to the provider's
RP-initiated logout with the ID token as hint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route as StarletteRoute

from gateway.errors import LoginRedirect
from gateway.hub_relying_party import FLOW_TTL, HubRelyingParty
from gateway.model import Principal, RequestHead, Route
from gateway.request_head import build_host
from gateway.session_client import CALLBACK_PATH, CLIENT_ID, gateway_client_secret
from gateway.session_pages import STEP_UP_UNAVAILABLE, logout_page
from gateway.session_store import (
    add_gateway_session,
    end_gateway_session,
    end_sessions_made_from,
    load_agreed_claims,
    load_gateway_session,
    session_digest,
)
from idp.accounts import load_user
from idp.app_origins import app_origin
from idp.clock import Clock
from idp.keys import KeyRing
from idp.storage.models import BrowserSession

CONTROL = "/.gerbang"
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
}


class SessionAuthenticator:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keys: KeyRing,
        issuer: str,
        secret: bytes,
        clock: Clock,
        secure_cookies: bool,
        session_ttl: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = keys
        self._issuer = issuer
        self._party = HubRelyingParty(
            keys,
            issuer,
            CLIENT_ID,
            gateway_client_secret(secret),
            hashlib.sha256(b"gerbang-gateway-flow" + secret).digest(),
            clock,
        )
        self._logout_key = hashlib.sha256(b"gerbang-gateway-logout" + secret).digest()
        self._clock = clock
        self._secure = secure_cookies
        self._ttl = session_ttl
        self.cookie = "__Host-gerbang_gw" if secure_cookies else "gerbang_gw"
        self.flow_cookie = "__Host-gerbang_gw_flow" if secure_cookies else "gerbang_gw_flow"

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        value = _cookie(request.header(b"cookie"), self.cookie)
        principal = await self._load(value, route.slug) if value else None
        if principal is None:
            target = request.path + ("?" + request.query.decode("latin-1") if request.query else "")
            raise LoginRedirect(f"{CONTROL}/login?{urlencode({'return_to': target})}")
        return principal

    async def _load(self, value: str, app: str) -> Principal | None:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            row = await load_gateway_session(session, value)
            # A session belongs to the app whose host it was made on; never another app's, never the hub's.
            if row is None or row.ended_at is not None or row.expires_at <= now or row.app != app:
                return None
            user = await load_user(session, row.user_id)
            if user is None or user.disabled:
                return None
            memberships = sorted(user.memberships, key=lambda m: m.opd.path)
        return Principal(
            sub=user.id,
            client_id=CLIENT_ID,
            name=user.name,
            opd=memberships[0].opd.slug if memberships else None,
            opd_paths=tuple(dict.fromkeys(m.opd.path for m in memberships)),
            roles=tuple(sorted({m.role for m in memberships})),
            acr=row.acr,
            amr=tuple(row.amr),
            session_id=row.idp_sid,
            email=user.email,
            nik=user.nik,
            nip=user.nip,
            agreed=None if row.claims is None else tuple(row.claims),
        )

    async def end_for_idp_session(self, row: BrowserSession) -> None:
        """Logout listener: the provider's session ended, so do the app sessions made from it (every app host)."""
        async with self._sessionmaker() as session, session.begin():
            await end_sessions_made_from(session, row.sid, self._clock.now())

    def routes(self) -> list[StarletteRoute]:
        return [
            StarletteRoute(f"{CONTROL}/login", self.login),
            StarletteRoute(f"{CONTROL}/callback", self.callback),
            StarletteRoute(f"{CONTROL}/logout", self.logout, methods=["GET", "POST"]),
        ]

    def _origin(self, request: Request) -> str:
        """The app origin the request came to (the dispatcher routed it here only for a registered app host)."""
        return app_origin(self._issuer, build_host(request.headers.get("host", "").encode()).rstrip("."))

    async def login(self, request: Request) -> Response:
        return_to = request.query_params.get("return_to", "/")
        if (
            not return_to.startswith("/")
            or return_to.startswith(("//", "/\\", CONTROL + "/"))
            or "\\" in return_to
            or any(ord(c) < 0x21 for c in return_to)
        ):
            return_to = "/"
        acr = request.query_params.get("acr")
        # step-up: with ``acr_values`` the provider asks for the second factor the session lacks
        _, params, sealed = self._party.begin(
            self._origin(request) + CALLBACK_PATH,
            "openid profile email opd",
            (return_to, acr),
            **({"acr_values": acr} if acr else {}),
        )
        response = RedirectResponse(f"{self._issuer}/auth/authorize?{urlencode(params)}", status_code=303)
        response.set_cookie(
            self.flow_cookie, sealed, max_age=FLOW_TTL, httponly=True, samesite="lax", secure=self._secure, path="/"
        )
        return response

    async def callback(self, request: Request) -> Response:
        flow = self._party.open_flow(request.cookies.get(self.flow_cookie))
        query = request.query_params
        if flow is None or not self._party.is_callback_valid(flow, query):
            return Response(
                "Permintaan masuk tidak sah atau kedaluwarsa.", status_code=400, media_type="text/plain; charset=utf-8"
            )
        return_to, acr = flow.carried
        claims = await self._party.redeem(query["code"], flow, self._origin(request) + CALLBACK_PATH)
        if claims is None:
            return Response("Masuk gagal. Silakan coba lagi.", status_code=400, media_type="text/plain; charset=utf-8")
        if acr and _acr_rank(claims.get("acr")) < _acr_rank(acr):
            # The person has no second factor to step up with: say so rather than loop back to the app.
            return HTMLResponse(STEP_UP_UNAVAILABLE.replace("{hub}", self._issuer), status_code=403)
        value = secrets.token_urlsafe(32)
        now = self._clock.now()
        route: Route = request.scope["gerbang.route"]
        async with self._sessionmaker() as session, session.begin():
            agreed = await load_agreed_claims(session, route.slug, claims["sub"])  # asked first (idp.app_agreement)
            add_gateway_session(session, value, claims, route.slug, now, self._ttl, agreed)
        response = RedirectResponse(return_to, status_code=303)
        response.set_cookie(self.cookie, value, httponly=True, samesite="lax", secure=self._secure, path="/")
        response.delete_cookie(self.flow_cookie, path="/", secure=self._secure, httponly=True)
        return response

    async def logout(self, request: Request) -> Response:
        value = request.cookies.get(self.cookie)
        english = request.query_params.get("lang") == "en"
        if request.method == "GET":  # only ask: a cross-site <img> or link must not sign anyone out
            return HTMLResponse(logout_page(self._logout_token(value), english), headers=PAGE_HEADERS)
        form = await request.form()
        if value and not hmac.compare_digest(str(form.get("token", "")), self._logout_token(value)):
            return HTMLResponse(
                logout_page(self._logout_token(value), english, retry=True), status_code=400, headers=PAGE_HEADERS
            )
        hint = await self._end(value) if value else None
        params = {"client_id": CLIENT_ID}
        if hint:  # the person confirmed here: the provider ends its session without asking again
            params["id_token_hint"] = hint
        response = RedirectResponse(f"{self._issuer}/auth/logout?{urlencode(params)}", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self._secure, httponly=True)
        return response

    async def _end(self, value: str) -> str | None:
        async with self._sessionmaker() as session, session.begin():
            return await end_gateway_session(session, value, self._clock.now())

    def _logout_token(self, value: str | None) -> str:
        """Bound to the session: a token read elsewhere (another session, another app) is worthless."""
        if not value:
            return ""
        return hmac.new(self._logout_key, session_digest(value).encode(), hashlib.sha256).hexdigest()


def _acr_rank(acr: object) -> int:
    try:
        return int(str(acr))
    except ValueError:
        return 0


def _cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
