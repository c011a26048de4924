"""The sign-in page: email or NIK and password; a new session id at every login (no fixation)."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts import load_user_by_login
from idp.endpoints.mfa import start_second_factor
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.pdp.deletion import cancel_deletion, is_pending_deletion
from idp.pdp.notice import gate as privacy_gate
from idp.second_factor import has_second_factor
from idp.security_events import note_login
from idp.login_throttle import is_attempt_admitted

PASSWORD_AMR = ["pwd"]


async def login_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    interaction_id = request.query_params.get("interaction")
    context = await _interaction_context(request, provider, interaction_id)
    if context is None:
        return provider.pages.error(request, "error.expired", 400)
    return provider.pages.render(request, "login.html", interaction=interaction_id, **context)


async def login_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    interaction_id = form.get("interaction") or None
    context = await _interaction_context(request, provider, interaction_id)
    if context is None:
        return provider.pages.error(request, "error.expired", 400)
    login, password = form.get("login", "")[:254], form.get("password", "")[:128]
    if not await is_attempt_admitted(provider.throttle, request, "password", login):
        await note_login(request, provider, "login.locked", login=login, reason="throttled")
        return provider.pages.render(request, "login.html", status=429, interaction=interaction_id,
                                     error_key="login.throttled", **context)
    try:
        async with provider.sessionmaker() as session:
            user = await load_user_by_login(session, login) if login else None
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
    # Verify even for an unknown account (against a dummy hash) so timing does not tell.
    valid = await provider.ctx.passwords.verify(user.password_hash if user else None, password)
    if valid and user is not None and user.disabled and is_pending_deletion(user, provider.clock.now()):
        await cancel_deletion(provider, user.id)  # signing in during the grace period keeps the account
        user.disabled = False
    if not valid or user is None or user.disabled:
        reason = "unknown_account" if user is None else "wrong_password" if not valid else "disabled"
        await note_login(request, provider, "login.failed", user_id=user.id if user else None, reason=reason)
        context["login_hint"] = login
        return provider.pages.render(request, "login.html", interaction=interaction_id, error_key="login.failed",
                                     **context)
    if await has_second_factor(provider.sessionmaker, user):
        return await start_second_factor(request, provider, user, interaction_id, PASSWORD_AMR)
    previous = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if previous is not None:
        await provider.sessions.end(previous.row.sid)
    client_ip = request.client.host if request.client else None
    cookie, row = await provider.sessions.create(user, acr="1", amr=PASSWORD_AMR, ip=client_ip,
                                                 user_agent=request.headers.get("user-agent"))
    await note_login(request, provider, "login.succeeded", user_id=user.id, detail={"amr": PASSWORD_AMR})
    if interaction_id:
        await provider.interactions.update(interaction_id, login_sid=row.sid)
        target = f"/auth/authorize/resume?{urlencode({'interaction': interaction_id})}"
    else:
        target = "/account"
    target = privacy_gate(provider, user, target)
    response = see_other(target)
    response.set_cookie(provider.session_cookie, cookie, httponly=True, samesite="lax",
                        secure=provider.settings.uses_tls, path="/", max_age=provider.settings.session_ttl)
    return response


async def _interaction_context(request: Request, provider: Provider, interaction_id: str | None) -> dict | None:
    """Page context for the parked request; ``None`` when the interaction is unknown or expired."""
    if not interaction_id:
        return {"client_name": None, "login_hint": None}
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE))
    if interaction is None:
        return None
    clients = await provider.clients.get_many({interaction.client_id})
    params = dict((k, v) for k, v in interaction.params)
    client = clients.get(interaction.client_id)
    return {"client_name": client.name if client else None, "login_hint": params.get("login_hint"),
            "ui_locales": params.get("ui_locales")}
