"""The sign-in page: email or NIK and password; a new session id at every login (no fixation)."""

from __future__ import annotations

import math

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts import load_user_by_login
from idp.app_agreement import load_app_to_agree
from idp.auth_limits import AuthVerdict
from idp.clients import GATEWAY_CLIENT_ID
from idp.device_cookie import COOKIE as DEVICE_COOKIE
from idp.device_cookie import attempt_bucket
from idp.endpoints.mfa import start_second_factor
from idp.federation.registry import list_upstreams
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.login_throttle import check_attempt
from idp.org import load_opd_name_by_id
from idp.page_forms import PageRefused, read_page_form
from idp.pdp.deletion import cancel_deletion, is_pending_deletion
from idp.provider import Provider
from idp.second_factor import has_second_factor
from idp.security_events import note_login
from idp.signin import complete_sign_in
from idp.storage.db import single_statements
from idp.storage.models import Client, User

PASSWORD_AMR = ["pwd"]


async def login_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    interaction_id = request.query_params.get("interaction")
    try:  # reads only, each statement on its own (no BEGIN/ROLLBACK round trips)
        async with provider.sessionmaker() as session:
            await single_statements(session)
            context = await _interaction_context(request, provider, interaction_id, session)
            if context is not None and request.query_params.get("reauth") and not interaction_id:
                # idp.fresh_auth: the signed-in citizen confirms it is her before changing a sign-in method.
                active = await provider.sessions.load(request.cookies.get(provider.session_cookie), session)
                context.update(login_hint=active.user.email if active else None, notice_key="login.reauth")
                if session.dirty:
                    await session.commit()  # the session's once-a-minute last_seen touch
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
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
    try:  # the parked request, the account, whether it has a second factor: reads only, each on its own
        async with provider.sessionmaker() as session:
            await single_statements(session)
            parked = interaction_id is None or (
                await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE), session)
                is not None
            )
            user = await load_user_by_login(session, login, with_memberships=False) if login and parked else None
            second_factor = user is not None and await has_second_factor(provider.sessionmaker, user, session)
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
    if not parked:
        return provider.pages.error(request, "error.expired", 400)
    verdict = await check_attempt(provider.throttle, request, "password", _login_bucket(request, provider, login, user))
    if not verdict.allowed:
        await note_login(request, provider, "login.locked", login=login, reason="throttled")
        response = await _render_login_page(
            request, provider, interaction_id, 429, error_key="login.throttled", wait_minutes=_minutes(verdict)
        )
        response.headers["Retry-After"] = str(verdict.retry_after_seconds)
        return response
    # Verify even for an unknown account (against a dummy hash) so timing does not tell.
    valid = await provider.ctx.passwords.verify(user.password_hash if user else None, password)
    if valid and user is not None and user.disabled and is_pending_deletion(user, provider.clock.now()):
        await cancel_deletion(provider, user.id)  # signing in during the grace period keeps the account
        user.disabled = False
    if not valid or user is None or user.disabled:
        reason = "unknown_account" if user is None else "wrong_password" if not valid else "disabled"
        await note_login(request, provider, "login.failed", user_id=user.id if user else None, reason=reason)
        return await _render_login_page(
            request, provider, interaction_id, 200, error_key="login.failed", login_hint=login
        )
    if second_factor:
        return await start_second_factor(request, provider, user, interaction_id, PASSWORD_AMR)
    return await complete_sign_in(request, provider, user, acr="1", amr=PASSWORD_AMR, interaction_id=interaction_id)


async def _render_login_page(
    request: Request, provider: Provider, interaction_id: str | None, status: int, **shown: object
) -> Response:
    """The sign-in page again, with what went wrong: its context (the app, the upstreams) is read only now, as a
    successful sign-in never shows it."""
    try:
        async with provider.sessionmaker() as session:
            context = await _interaction_context(request, provider, interaction_id, await single_statements(session))
    except SQLAlchemyError:
        return provider.pages.error(request, "error.unavailable", 503)
    if context is None:
        return provider.pages.error(request, "error.expired", 400)
    context.update(shown)
    return provider.pages.render(request, "login.html", status=status, interaction=interaction_id, **context)


def _login_bucket(request: Request, provider: Provider, login: str, user: User | None) -> str:
    return attempt_bucket(
        provider.devices, request.cookies.get(DEVICE_COOKIE), provider.clock.now(), login, user.id if user else None
    )


def _minutes(verdict: AuthVerdict) -> int:
    return max(1, math.ceil(verdict.retry_after_seconds / 60))


async def list_sign_in_upstreams(provider: Provider, session: AsyncSession | None = None) -> list[tuple[str, str]]:
    """``(slug, name)`` of each upstream offered beside the password form ("Masuk dengan INApas")."""
    if session is None:
        async with provider.sessionmaker() as own:
            return await list_sign_in_upstreams(provider, own)
    return [(row.slug, row.name) for row in await list_upstreams(session, enabled_only=True)]


async def _interaction_context(
    request: Request, provider: Provider, interaction_id: str | None, session: AsyncSession | None = None
) -> dict | None:
    """Page context for the parked request; ``None`` when the interaction is unknown or expired."""
    upstreams = await list_sign_in_upstreams(provider, session)
    if not interaction_id:
        return {"client_name": None, "login_hint": None, "upstreams": upstreams}
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE), session)
    if interaction is None:
        return None
    clients = await provider.clients.get_many({interaction.client_id}, holding=session)
    params = dict((k, v) for k, v in interaction.params)
    client_name, opd_name = await _signing_in_to(provider, clients.get(interaction.client_id), params, session)
    return {
        "client_name": client_name,
        "opd_name": opd_name,
        "login_hint": params.get("login_hint"),
        "ui_locales": params.get("ui_locales"),
        "upstreams": upstreams,
    }


async def _signing_in_to(
    provider: Provider, client: Client | None, params: dict[str, str], session: AsyncSession | None
) -> tuple[str | None, str | None]:
    """The app the person signs in to and its OPD: the client's, or for a session app behind the gateway (whose
    client is the gateway's own) the app its callback names (``idp.app_agreement``)."""
    if client is None:
        return None, None
    if session is None:
        async with provider.sessionmaker() as own:
            return await _signing_in_to(provider, client, params, own)
    if client.client_id == GATEWAY_CLIENT_ID:
        app = await load_app_to_agree(
            session,
            provider.settings.apps_domain,
            params.get("redirect_uri", ""),
            provider.ctx.policies.current.allowed_scopes,
        )
        return (app.name, app.opd_name) if app else (None, None)
    return client.name, await load_opd_name_by_id(session, client.opd_id)
