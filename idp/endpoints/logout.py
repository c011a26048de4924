"""OpenID Connect RP-Initiated Logout 1.0: end the session, then return to a registered URI only.

Without a valid ``id_token_hint`` for the current session we ask the person first (a third-party
page must not be able to sign citizens out). GET and POST alike (§3).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idp.csrf import FIELD as CSRF_FIELD
from idp.endpoints.broker_logout import upstream_logout_redirect
from idp.http import FormError, read_form
from idp.oauth.verify import TokenInvalid, verify_id_token
from idp.pages import see_other
from idp.provider import Provider

LOGOUT_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")


async def logout_endpoint(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    confirmed = False
    if request.method == "POST":
        # §3 lets a relying party POST its request (form-encoded, as with GET, no CSRF token: it is asked to
        # confirm like any other). Our own confirmation form carries the session-bound CSRF token; only it ends
        # the session without a valid id_token_hint.
        try:
            params = dict(await read_form(request))
        except FormError:
            return provider.pages.error(request, "error.back", 400)
        if CSRF_FIELD in params:
            if not provider.pages.is_csrf_valid(request, params):
                return provider.pages.error(request, "error.csrf", 403)
            confirmed = True
    else:
        params = dict(request.query_params)
    params = {k: v for k, v in params.items() if k in LOGOUT_PARAMS}
    hint_claims = None
    if params.get("id_token_hint"):
        try:
            hint_claims = await verify_id_token(
                provider.keys, params["id_token_hint"], provider.issuer, now=provider.clock.now()
            )
        except TokenInvalid:
            return provider.pages.error(request, "error.back", 400, detail="id_token_hint")
    client_id = params.get("client_id") or (hint_claims or {}).get("aud")
    if hint_claims and params.get("client_id") and params["client_id"] != hint_claims.get("aud"):
        return provider.pages.error(request, "error.back", 400, detail="client_id")
    redirect = params.get("post_logout_redirect_uri")
    if redirect:
        client = (await provider.clients.get_many({client_id})).get(client_id) if isinstance(client_id, str) else None
        if client is None or redirect not in client.post_logout_redirect_uris:
            return provider.pages.error(request, "error.back", 400, detail="post_logout_redirect_uri")
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    hint_matches = active is not None and hint_claims is not None and hint_claims.get("sub") == active.user.id
    if active is not None and not confirmed and not hint_matches:
        return provider.pages.render(
            request, "logout.html", params=list(params.items()), ui_locales=params.get("ui_locales")
        )
    target = None
    if redirect:
        query = urlencode({"state": params["state"]}) if params.get("state") else ""
        target = f"{redirect}{('&' if '?' in redirect else '?') + query if query else ''}"
    upstream = None
    if active is not None:
        await provider.end_session(active.row)
        upstream = await upstream_logout_redirect(provider, active.row.sid, target)  # brokered: end it there too
    if upstream or target:
        response = see_other(upstream or target or "")
    else:
        response = provider.pages.render(request, "logged_out.html")
    response.delete_cookie(provider.session_cookie, path="/", secure=provider.settings.uses_tls, httponly=True)
    return response
