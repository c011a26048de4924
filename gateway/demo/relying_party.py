"""The demo relying party: a city web app that signs citizens in with Gerbang (code + PKCE).

It is what an OPD developer writes: discovery, a redirect with state/nonce/PKCE, the code exchanged
server-side, the ID token verified against the JWKS. Sessions are kept in memory (demo only).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.session_client import basic_auth


def create_relying_party(issuer: str, client_id: str, client_secret: str, base_url: str) -> Starlette:
    pending: dict[str, dict[str, str]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    redirect_uri = f"{base_url}/callback"

    async def discover() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{issuer}/.well-known/openid-configuration") as response:
                return await response.json()

    async def home(request: Request) -> Response:
        user = sessions.get(request.cookies.get("rp_session", ""))
        if user is None:
            return HTMLResponse('<h1>Portal Warga Palembang</h1><p><a href="/login">Masuk dengan Gerbang</a></p>')
        claims = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in sorted(user["claims"].items())
        )
        return HTMLResponse(
            f"<h1>Halo, {html.escape(str(user['claims'].get('name')))}</h1>"
            f'<table>{claims}</table><p><a href="/logout">Keluar</a></p>'
        )

    async def login(_request: Request) -> Response:
        meta = await discover()
        state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        pending[state] = {"nonce": nonce, "verifier": verifier}
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile email opd",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return RedirectResponse(f"{meta['authorization_endpoint']}?{query}", status_code=303)

    async def callback(request: Request) -> Response:
        flow = pending.pop(request.query_params.get("state", ""), None)
        if flow is None or request.query_params.get("iss") != issuer or "code" not in request.query_params:
            return HTMLResponse("<p>Permintaan masuk tidak sah.</p>", status_code=400)
        meta = await discover()
        async with aiohttp.ClientSession() as http:
            form = {
                "grant_type": "authorization_code",
                "code": request.query_params["code"],
                "redirect_uri": redirect_uri,
                "code_verifier": flow["verifier"],
            }
            async with http.post(
                meta["token_endpoint"], data=form, headers={"Authorization": basic_auth(client_id, client_secret)}
            ) as reply:
                tokens = await reply.json()
            async with http.get(meta["jwks_uri"]) as reply:
                jwks = await reply.json()
        kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
        key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
        claims = jwt.decode(
            tokens["id_token"], key.key, algorithms=["ES256", "RS256"], audience=client_id, issuer=issuer
        )
        if claims.get("nonce") != flow["nonce"]:
            return HTMLResponse("<p>Nonce tidak cocok.</p>", status_code=400)
        session_id = secrets.token_urlsafe(24)
        sessions[session_id] = {"claims": claims, "id_token": tokens["id_token"]}
        response = RedirectResponse("/", status_code=303)
        response.set_cookie("rp_session", session_id, httponly=True, samesite="lax")
        return response

    async def logout(request: Request) -> Response:
        user = sessions.pop(request.cookies.get("rp_session", ""), None)
        meta = await discover()
        query = {"post_logout_redirect_uri": f"{base_url}/"}
        if user:
            query["id_token_hint"] = user["id_token"]
        return RedirectResponse(f"{meta['end_session_endpoint']}?{urlencode(query)}", status_code=303)

    return Starlette(
        routes=[Route("/", home), Route("/login", login), Route("/callback", callback), Route("/logout", logout)]
    )
