"""``/account/privacy``: the citizen's data rights — download the data, see the security events, delete the account."""

from __future__ import annotations

import datetime as dt
import json

from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.account_session import account_form_action, load_account_session
from idp.login_throttle import is_attempt_admitted
from idp.pages import see_other
from idp.pdp.deletion import request_deletion
from idp.pdp.export import build_export
from idp.pdp.fulfil import request_words
from idp.pdp.requests import add_request, load_user_requests
from idp.provider import Provider
from idp.security_events import EventFilter, list_security_events
from idp.sessions import ActiveSession


async def privacy_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    return await _render(request, provider, active, None)


async def data_page(request: Request) -> Response:
    """The same document as the download, readable; the NIK is masked on screen."""
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    async with provider.sessionmaker() as session:
        data = await build_export(session, active.user.id, provider.clock.now(), provider.issuer)
    return provider.pages.render(request, "account_data.html", data=data, when=_when)


async def data_download(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        data = await build_export(session, active.user.id, now, provider.issuer)
        add_request(session, active.user.id, "export", now, actor=f"user:{active.user.id}", status="done")
    body = json.dumps(data, ensure_ascii=False, indent=1)
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%d")
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="gerbang-data-{stamp}.json"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@account_form_action
async def delete_submit(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    """A fresh proof of the password confirms; the account is disabled at once and this browser signed out."""
    user = active.user
    if not await is_attempt_admitted(provider.throttle, request, "password", user.id):
        return await _render(request, provider, active, "login.throttled", status=429)
    if not await provider.ctx.passwords.verify(user.password_hash, form.get("password", "")[:128]):
        return await _render(request, provider, active, "data.delete_wrong", status=400)
    await request_deletion(provider, user.id, actor=f"user:{user.id}")
    response = provider.pages.render(
        request,
        "notice.html",
        heading_key="data.deleted_heading",
        message_key="data.deleted_body",
        login_interaction=None,
    )
    response.delete_cookie(provider.session_cookie, path="/", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _render(
    request: Request, provider: Provider, active: ActiveSession, message_key: str | None, status: int = 200
) -> Response:
    async with provider.sessionmaker() as session:
        events = await list_security_events(session, EventFilter(user_id=active.user.id), limit=50)
        requests = [(row, request_words(row)) for row in await load_user_requests(session, active.user.id)]
    return provider.pages.render(
        request,
        "account_privacy.html",
        status=status,
        user=active.user,
        events=events,
        message_key=message_key,
        when=_when,
        requests=requests,
        grace_days=provider.settings.account_deletion_grace_days,
    )


WIB = dt.timezone(dt.timedelta(hours=7), "WIB")  # a person reads times in Asia/Jakarta


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "—"
    return dt.datetime.fromtimestamp(timestamp, WIB).strftime("%d-%m-%Y %H:%M WIB")
