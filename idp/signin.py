"""Finishing a sign-in once every factor asked for is proven: a new session (no fixation), the cookie,
and back to the parked authorization request or to ``/account``."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idp.pages import see_other
from idp.pdp.notice import gate as privacy_gate
from idp.provider import Provider
from idp.security_events import note_login
from idp.storage.models import User


async def complete_sign_in(request: Request, provider: Provider, user: User, *, acr: str, amr: list[str],
                           interaction_id: str | None, target: str = "/account") -> Response:
    previous = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if previous is not None:
        await provider.sessions.end(previous.row.sid)
    client_ip = request.client.host if request.client else None
    cookie, row = await provider.sessions.create(user, acr=acr, amr=amr, ip=client_ip,
                                                 user_agent=request.headers.get("user-agent"))
    if interaction_id:
        await provider.interactions.update(interaction_id, login_sid=row.sid)
        target = f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}"
    await note_login(request, provider, "login.succeeded", user_id=user.id, detail={"amr": amr})
    response = see_other(privacy_gate(provider, user, target))
    response.set_cookie(provider.session_cookie, cookie, httponly=True, samesite="lax",
                        secure=provider.settings.uses_tls, path="/", max_age=provider.settings.session_ttl)
    return response
