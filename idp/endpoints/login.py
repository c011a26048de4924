"""The sign-in page: email or NIK and password; a new session id at every login (no fixation)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts import load_user_by_login
from idp.endpoints.mfa import start_second_factor
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.page_forms import PageRefused, read_page_form
from idp.provider import Provider
from idp.second_factor import has_second_factor
from idp.signin import complete_sign_in
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
    login, password = form.get("login", "")[:254], form.get("password", "")[:128]
    try:  # one read transaction: the parked request, the account, whether it has a second factor
        async with provider.sessionmaker() as session:
            context = await _interaction_context(request, provider, interaction_id, session)
            user = await load_user_by_login(session, login) if login and context is not None else None
            second_factor = user is not None and await has_second_factor(provider.sessionmaker, user, session)
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
    if context is None:
        return provider.pages.error(request, "error.expired", 400)
    if not await is_attempt_admitted(provider.throttle, request, "password", login):
        return provider.pages.render(request, "login.html", status=429, interaction=interaction_id,
                                     error_key="login.throttled", **context)
    # Verify even for an unknown account (against a dummy hash) so timing does not tell.
    valid = await provider.ctx.passwords.verify(user.password_hash if user else None, password)
    if not valid or user is None or user.disabled:
        context["login_hint"] = login
        return provider.pages.render(request, "login.html", interaction=interaction_id, error_key="login.failed",
                                     **context)
    if second_factor:
        return await start_second_factor(request, provider, user, interaction_id, PASSWORD_AMR)
    return await complete_sign_in(request, provider, user, acr="1", amr=PASSWORD_AMR, interaction_id=interaction_id)


async def _interaction_context(request: Request, provider: Provider, interaction_id: str | None,
                               session: AsyncSession | None = None) -> dict | None:
    """Page context for the parked request; ``None`` when the interaction is unknown or expired."""
    if not interaction_id:
        return {"client_name": None, "login_hint": None}
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE), session)
    if interaction is None:
        return None
    clients = await provider.clients.get_many({interaction.client_id}, holding=session)
    params = dict((k, v) for k, v in interaction.params)
    client = clients.get(interaction.client_id)
    return {"client_name": client.name if client else None, "login_hint": params.get("login_hint"),
            "ui_locales": params.get("ui_locales")}
