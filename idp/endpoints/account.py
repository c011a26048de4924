"""``/account``: the signed-in citizen's own page — profile, password, second factor, connected apps, sessions."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from idp.access_history import load_access_history
from idp.account_mail import send_password_changed
from idp.accounts import load_user, load_user_for_update
from idp.consents import load_consents
from idp.credentials import end_all_sessions, revoke_user_grants, set_password
from idp.endpoints.account_session import account_form_action, credential_form_action, load_account_session
from idp.federation.linking import list_identities
from idp.login_throttle import is_attempt_admitted
from idp.pages import see_other
from idp.password_policy import PasswordRejected, check_new_password
from idp.pdp.requests import load_targets
from idp.pdp.withdraw import withdraw_app, withdraw_consent
from idp.provider import Provider
from idp.recovery_codes import count_unused
from idp.registration import MAX_NAME
from idp.security_events import add_security_event
from idp.sessions import ActiveSession, load_live_sessions, load_user_session
from idp.signin import complete_sign_in

DONE_MESSAGES = {
    "saved": "account.saved",
    "password": "account.password_changed",
    "revoked": "account.saved",
    "ended": "account.saved",
    "totp_off": "account.saved",
    "code_failed": "mfa.failed",
    "passkey": "passkey.added",
    "email_sent": "account.email_sent",
    "email_password": "password.current_wrong",
    "email_invalid": "register.email_invalid",
    "withdrawn": "data.withdrawn",
    "app_withdrawn": "data.app_withdrawn",
    "restored": "data.deletion_cancelled",
    "identity_unlinked": "account.identity_unlinked",
    "identity_kept": "account.identity_kept",
}


async def account_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    return await _render(request, provider, active, DONE_MESSAGES.get(request.query_params.get("done", "")))


@account_form_action
async def profile_submit(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > MAX_NAME:
        return await _render(request, provider, active, None, problems={"name": "register.name_invalid"}, status=400)
    async with provider.sessionmaker() as session, session.begin():
        user = await load_user(session, active.user.id)
        assert user is not None
        user.name, user.updated_at = name, provider.clock.now()
    return see_other("/account?done=saved")


@credential_form_action
async def password_submit(
    request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]
) -> Response:
    """Change the password: every session (this one too) and token family ends; this browser signs in anew."""
    user = active.user
    if not await is_attempt_admitted(provider.throttle, request, "password", user.id):
        return await _render(request, provider, active, "login.throttled", status=429)
    if not await provider.ctx.passwords.verify(user.password_hash, form.get("current_password", "")[:128]):
        return await _render(
            request, provider, active, None, problems={"current": "password.current_wrong"}, status=400
        )
    password = form.get("password", "")
    try:
        check_new_password(password, email=user.email, name=user.name)
        if password != form.get("password_confirm", ""):
            raise PasswordRejected("password.mismatch")
    except PasswordRejected as rejected:
        return await _render(request, provider, active, None, problems={"password": rejected.key}, status=400)
    password_hash = await provider.ctx.passwords.hash(password)
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        row = await load_user_for_update(session, user.id)
        assert row is not None
        set_password(row, password_hash, now)
        await revoke_user_grants(session, user.id, now, "password_change")
        add_security_event(session, "password.reset", now, user_id=user.id, reason="changed")
    await end_all_sessions(provider, user.id)
    await send_password_changed(provider, user)
    return await complete_sign_in(
        request,
        provider,
        row,
        acr=active.row.acr,
        amr=list(active.row.amr),
        interaction_id=None,
        target="/account?done=password",
    )


@account_form_action
async def consent_revoke(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    """Withdraw consent for an app (``idp.pdp.withdraw``): tokens revoked, the app told, consent asked again."""
    client_id = form.get("client_id", "")[:64]
    await withdraw_consent(provider, active.user.id, client_id, actor=f"user:{active.user.id}")
    return see_other("/account?done=withdrawn")


@account_form_action
async def app_withdraw(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    """Withdraw consent for a ``session`` app behind the gateway: every session of the person there ends."""
    slug = form.get("app", "")[:64]
    async with provider.sessionmaker() as session:
        allowed = f"app:{slug}" in {key for key, _ in await load_targets(session, active.user.id)}
    if allowed:  # only an app that received this person's identity: no probing for app names
        await withdraw_app(provider, active.user.id, slug, actor=f"user:{active.user.id}")
    return see_other("/account?done=app_withdrawn")


@account_form_action
async def session_end(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    sid = form.get("sid", "")[:36]
    async with provider.sessionmaker() as session:
        row = await load_user_session(session, active.user.id, sid)
    if row is not None and row.ended_at is None:
        await provider.end_session(row)
    if sid == active.row.sid:
        return _signed_out(request, provider)
    return see_other("/account?done=ended")


@account_form_action
async def sessions_end_all(
    request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]
) -> Response:
    """Sign out everywhere: every session of the account, this one included."""
    await end_all_sessions(provider, active.user.id)
    return _signed_out(request, provider)


def _signed_out(request: Request, provider: Provider) -> Response:
    response = provider.pages.render(request, "logged_out.html")
    response.delete_cookie(provider.session_cookie, path="/", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _render(
    request: Request,
    provider: Provider,
    active: ActiveSession,
    message_key: str | None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    user, now = active.user, provider.clock.now()
    async with provider.sessionmaker() as session:
        apps = await load_consents(session, user.id)
        live = await load_live_sessions(session, user.id, now, provider.settings.session_idle_ttl)
        recovery_left = await count_unused(session, user.id) if user.totp_secret else 0
        history = await load_access_history(session, user.id)
        identities = await list_identities(session, user.id)
        gateway_apps = [(key[4:], name) for key, name in await load_targets(session, user.id) if key.startswith("app:")]
    passkeys = await provider.passkeys.list_for(user.id)
    return provider.pages.render(
        request,
        "account.html",
        status=status,
        user=user,
        active=active.row,
        message_key=message_key,
        problems=problems or {},
        apps=[(consent, name) for consent, name in apps],
        sessions=list(live),
        recovery_left=recovery_left,
        passkeys=passkeys,
        history=history,
        when=_when,
        identities=identities,
        gateway_apps=gateway_apps,
    )


def _when(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, WIB).strftime("%d-%m-%Y %H:%M WIB")


WIB = dt.timezone(dt.timedelta(hours=7), "WIB")  # a person reads times in Asia/Jakarta
