"""Finishing a sign-in once every factor asked for is proven: a new session (no fixation), the cookie,
and back to the parked authorization request or to ``/account``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlencode

from sqlalchemy import Table
from starlette.requests import Request
from starlette.responses import Response

from idp.device_cookie import COOKIE as DEVICE_COOKIE
from idp.device_cookie import LIFETIME as DEVICE_LIFETIME
from idp.fresh_auth import forget_return, return_target
from idp.pages import see_other
from idp.pdp.notice import gate as privacy_gate
from idp.provider import Provider
from idp.security_events import build_event
from idp.sessions import insert_session
from idp.storage.db import column_values, inserting, write_together
from idp.storage.models import BrowserSession, SecurityEvent, User

EVENTS = cast(Table, SecurityEvent.__table__)


async def complete_sign_in(
    request: Request,
    provider: Provider,
    user: User,
    *,
    acr: str,
    amr: list[str],
    interaction_id: str | None,
    target: str | None = None,
    on_session: Callable[[BrowserSession], Awaitable[None]] | None = None,
) -> Response:
    """One write (``write_together``: one statement on PostgreSQL): the previous session of this browser ends, the
    new one starts, the parked authorization request learns which login was made for it, the event is recorded.
    ``target``: where to go when no authorization request is parked; by default back to the page that asked for a
    fresh sign-in (``idp.fresh_auth``), else ``/account``. ``on_session``: what else this sign-in must remember
    about the new session (federation)."""
    client_ip = request.client.host if request.client else None
    ended = provider.sessions.ending_by_cookie(request.cookies.get(provider.session_cookie))
    cookie, row = provider.sessions.build(
        user, acr=acr, amr=amr, ip=client_ip, user_agent=request.headers.get("user-agent")
    )
    # The security event in the same write (idp.security_events).
    event = build_event("login.succeeded", provider.clock.now(), user_id=user.id, ip=client_ip, detail={"amr": amr})
    writes = [*([ended] if ended is not None else []), insert_session(row)]
    if interaction_id:
        writes.append(provider.interactions.updating(interaction_id, login_sid=row.sid))
    writes.append(inserting(EVENTS, column_values(event), "event__"))
    await write_together(provider.sessionmaker, writes)
    if on_session is not None:
        await on_session(row)
    if interaction_id:
        target = f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}"
    response = see_other(privacy_gate(provider, user, target or return_target(request) or "/account"))
    forget_return(provider, response)
    # This browser has now signed in to this account: it keeps its own login allowance (idp.device_cookie).
    response.set_cookie(
        DEVICE_COOKIE,
        provider.devices.build(user.id, provider.clock.now()),
        httponly=True,
        samesite="strict",
        secure=provider.settings.uses_tls,
        path="/auth",
        max_age=DEVICE_LIFETIME,
    )
    response.set_cookie(
        provider.session_cookie,
        cookie,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/",
        max_age=provider.settings.session_ttl,
    )
    return response
