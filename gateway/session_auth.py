"""``session`` apps: the gateway is an OpenID Connect relying party of the provider.

No hub session → ``LoginRedirect`` to ``/gateway/login`` → the provider's authorization endpoint
(code + PKCE, first-party client ``gerbang-gateway``) → ``/gateway/callback`` exchanges the code,
verifies the ID token and makes a server-side hub session (cookie: random id; storage: its digest).
The session ends with the provider's session (logout listener) or at ``/gateway/logout``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route as StarletteRoute

from gateway.errors import LoginRedirect
from gateway.model import Principal, RequestHead, Route
from idp.clients import digest_secret
from idp.clock import Clock
from idp.clients import GATEWAY_CLIENT_ID
from idp.keys import KeyRing
from idp.oauth.verify import TokenInvalid, verify_hub_jwt_reloading
from idp.storage.insert_if_absent import insert_if_absent
from idp.storage.models import BrowserSession, Client, GatewaySession, User

CLIENT_ID = GATEWAY_CLIENT_ID
FLOW_COOKIE = "gerbang_gw_flow"
FLOW_TTL = 600
STEP_UP_UNAVAILABLE = (
    '<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Verifikasi dua langkah diperlukan</title>'
    '</head><body><h1>Layanan ini memerlukan verifikasi dua langkah</h1>'
    '<p>Aktifkan aplikasi autentikator (TOTP) atau passkey di <a href="/account">halaman akun Anda</a>, '
    'lalu buka layanan ini lagi.</p><p lang="en">This service needs a second factor: enrol one on your '
    '<a href="/account">account page</a>, then open it again.</p></body></html>')


def gateway_client_secret(secret: bytes) -> str:
    """Every instance derives the same secret from the settings secret; only its digest is stored."""
    return hmac.new(secret, b"gerbang-gateway-client", hashlib.sha256).hexdigest()


async def ensure_gateway_client(session: AsyncSession, issuer: str, secret: bytes, now: int) -> None:
    """Every instance runs this at start, often at the same moment: insert-if-absent, then bring it up to date."""
    redirect = f"{issuer}/gateway/callback"
    digest = digest_secret(gateway_client_secret(secret))
    created = await insert_if_absent(session, Client, "client_id", dict(
        client_id=CLIENT_ID, secret_digest=digest, name="Gerbang", redirect_uris=[redirect],
        post_logout_redirect_uris=[f"{issuer}/gateway/logged-out"], grant_types=["authorization_code"],
        scope="openid profile email opd", auth_method="client_secret_basic", resources=[], first_party=True,
        status="active", created_at=now, updated_at=now))
    if created:
        return
    client = await session.scalar(select(Client).where(Client.client_id == CLIENT_ID))
    if client is not None and (client.redirect_uris != [redirect] or client.secret_digest != digest):
        client.redirect_uris, client.secret_digest, client.updated_at = [redirect], digest, now


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    verifier: str
    return_to: str
    acr: str | None


class SessionAuthenticator:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing, issuer: str, secret: bytes,
                 clock: Clock, secure_cookies: bool, session_ttl: int) -> None:
        self._sessionmaker = sessionmaker
        self._keys = keys
        self._issuer = issuer
        self._client_secret = gateway_client_secret(secret)
        self._flow_key = hashlib.sha256(b"gerbang-gateway-flow" + secret).digest()
        self._clock = clock
        self._secure = secure_cookies
        self._ttl = session_ttl
        self.cookie = "__Host-gerbang_gw" if secure_cookies else "gerbang_gw"

    async def authenticate(self, route: Route, request: RequestHead) -> Principal:
        value = _cookie(request.header(b"cookie"), self.cookie)
        principal = await self._load(value) if value else None
        if principal is None:
            target = request.path + ("?" + request.query.decode("latin-1") if request.query else "")
            raise LoginRedirect(f"/gateway/login?{urlencode({'return_to': target})}")
        return principal

    async def _load(self, value: str) -> Principal | None:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            row = await session.get(GatewaySession, _digest(value))
            if row is None or row.ended_at is not None or row.expires_at <= now:
                return None
            user = await session.get(User, row.user_id)
            if user is None or user.disabled:
                return None
            memberships = sorted(user.memberships, key=lambda m: m.opd.path)
        return Principal(sub=user.id, client_id=CLIENT_ID, name=user.name,
                         opd=memberships[0].opd.slug if memberships else None,
                         opd_paths=tuple(dict.fromkeys(m.opd.path for m in memberships)),
                         roles=tuple(sorted({m.role for m in memberships})), acr=row.acr, amr=tuple(row.amr),
                         session_id=row.idp_sid)

    async def end_for_idp_session(self, row: BrowserSession) -> None:
        """Logout listener: the provider's session ended, so do the gateway sessions made from it."""
        async with self._sessionmaker() as session, session.begin():
            await session.execute(update(GatewaySession).where(
                GatewaySession.idp_sid == row.sid, GatewaySession.ended_at.is_(None)).values(
                ended_at=self._clock.now()))

    def routes(self) -> list[StarletteRoute]:
        return [StarletteRoute("/gateway/login", self.login), StarletteRoute("/gateway/callback", self.callback),
                StarletteRoute("/gateway/logout", self.logout)]

    async def login(self, request: Request) -> Response:
        return_to = request.query_params.get("return_to", "/")
        if not return_to.startswith("/apps/") or "//" in return_to or "\\" in return_to:
            return_to = "/"
        verifier = secrets.token_urlsafe(48)
        flow = Flow(secrets.token_urlsafe(16), secrets.token_urlsafe(16), verifier, return_to,
                    request.query_params.get("acr"))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": f"{self._issuer}/gateway/callback",
                  "scope": "openid profile email opd", "state": flow.state, "nonce": flow.nonce,
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        if flow.acr:  # step-up: the provider asks for the second factor the session lacks
            params["acr_values"] = flow.acr
        response = RedirectResponse(f"/auth/authorize?{urlencode(params)}", status_code=303)
        response.set_cookie(FLOW_COOKIE, self._seal(flow), max_age=FLOW_TTL, httponly=True, samesite="lax",
                            secure=self._secure, path="/gateway")
        return response

    async def callback(self, request: Request) -> Response:
        flow = self._unseal(request.cookies.get(FLOW_COOKIE))
        query = request.query_params
        if (flow is None or not hmac.compare_digest(query.get("state", ""), flow.state)
                or query.get("iss") != self._issuer or "code" not in query):
            return Response("Permintaan masuk tidak sah atau kedaluwarsa.", status_code=400,
                            media_type="text/plain; charset=utf-8")
        claims = await self._exchange(query["code"], flow)
        if claims is None:
            return Response("Masuk gagal. Silakan coba lagi.", status_code=400, media_type="text/plain; charset=utf-8")
        if flow.acr and _acr_rank(claims.get("acr")) < _acr_rank(flow.acr):
            # The person has no second factor to step up with: say so rather than loop back to the app.
            return HTMLResponse(STEP_UP_UNAVAILABLE, status_code=403)
        value = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            session.add(GatewaySession(id_digest=_digest(value), idp_sid=claims.get("sid"), user_id=claims["sub"],
                                       acr=str(claims.get("acr", "1")), amr=list(claims.get("amr", [])),
                                       id_token=claims["_raw"], created_at=now, expires_at=now + self._ttl))
        response = RedirectResponse(flow.return_to, status_code=303)
        response.set_cookie(self.cookie, value, httponly=True, samesite="lax", secure=self._secure, path="/")
        response.delete_cookie(FLOW_COOKIE, path="/gateway")
        return response

    async def logout(self, request: Request) -> Response:
        value = request.cookies.get(self.cookie)
        hint = None
        if value:
            async with self._sessionmaker() as session, session.begin():
                row = await session.get(GatewaySession, _digest(value))
                if row is not None:
                    row.ended_at, hint = self._clock.now(), row.id_token
        params = {"client_id": CLIENT_ID}
        if hint:
            params["id_token_hint"] = hint
        response = RedirectResponse(f"/auth/logout?{urlencode(params)}", status_code=303)
        response.delete_cookie(self.cookie, path="/")
        return response

    async def _exchange(self, code: str, flow: Flow) -> dict | None:
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": flow.verifier,
                "redirect_uri": f"{self._issuer}/gateway/callback"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(f"{self._issuer}/auth/token", data=form,
                                 headers={"Authorization": basic_auth(CLIENT_ID, self._client_secret)}) as response:
                if response.status != 200:
                    return None
                tokens = await response.json()
        try:
            claims = await verify_hub_jwt_reloading(self._keys, tokens["id_token"], self._issuer, typ=None,
                                                    audience=CLIENT_ID, now=self._clock.now())
        except (TokenInvalid, KeyError):
            return None
        if claims.get("nonce") != flow.nonce:
            return None
        claims["_raw"] = tokens["id_token"]
        return claims

    def _seal(self, flow: Flow) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(
            [flow.state, flow.nonce, flow.verifier, flow.return_to, flow.acr, self._clock.now()]).encode()).decode()
        mac = hmac.new(self._flow_key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def _unseal(self, value: str | None) -> Flow | None:
        if not value or "." not in value:
            return None
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, hmac.new(self._flow_key, payload.encode(), hashlib.sha256).hexdigest()):
            return None
        state, nonce, verifier, return_to, acr, made = json.loads(base64.urlsafe_b64decode(payload))
        if made + FLOW_TTL < self._clock.now():
            return None
        return Flow(state, nonce, verifier, return_to, acr)


def _acr_rank(acr: object) -> int:
    try:
        return int(str(acr))
    except ValueError:
        return 0


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None

