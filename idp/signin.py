"""Finishing a sign-in once every factor asked for is proven: a new session (no fixation), the cookie,
and back to the parked authorization request or to ``/account``."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idp.pages import see_other
from idp.provider import Provider
from idp.storage.models import User


async def complete_sign_in(request: Request, provider: Provider, user: User, *, acr: str, amr: list[str],
                           interaction_id: str | None, target: str = "/account") -> Response:
    """One write transaction: the previous session of this browser ends, the new one starts, the parked
    authorization request learns which login was made for it."""
    client_ip = request.client.host if request.client else None
    async with provider.sessionmaker() as session, session.begin():
        await provider.sessions.end_by_cookie(request.cookies.get(provider.session_cookie), session)
        cookie, row = await provider.sessions.create(user, acr=acr, amr=amr, ip=client_ip,
                                                     user_agent=request.headers.get("user-agent"), session=session)
        if interaction_id:
            await provider.interactions.update(interaction_id, login_sid=row.sid, session=session)
    if interaction_id:
        target = f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}"
    response = see_other(target)
    response.set_cookie(provider.session_cookie, cookie, httponly=True, samesite="lax",
                        secure=provider.settings.uses_tls, path="/", max_age=provider.settings.session_ttl)
    return response
