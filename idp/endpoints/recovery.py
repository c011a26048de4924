"""Password reset by email: ``/auth/reset`` asks for the address, ``/auth/reset/confirm`` sets the password.

The request answers the same page for known and unknown addresses; the link is signed, expires,
works once, and dies when the password changes by any other means (it is bound to the change time).
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from idp.account_mail import send_password_changed, send_reset
from idp.accounts import load_user, load_user_by_email, load_user_for_update, normalise_email
from idp.credentials import end_all_sessions, revoke_user_grants, set_password
from idp.device_cookie import COOKIE as DEVICE_COOKIE
from idp.device_cookie import attempt_bucket
from idp.errors import InvalidInput
from idp.links import LinkClaims, LinkInvalid, consume_link, is_link_used
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.password_policy import PasswordRejected, check_new_password
from idp.provider import Provider
from idp.security_events import add_security_event
from idp.storage.models import User


async def reset_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    return provider.pages.render(request, "reset.html")


async def reset_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    raw = form.get("email", "")[:254]
    try:
        email = normalise_email(raw)
    except InvalidInput:
        email = None
    user = None
    if email is not None:
        async with provider.sessionmaker() as session:
            user = await load_user_by_email(session, email)
    # A stranger asking again and again must not keep the owner's browser from getting her reset mail.
    bucket = attempt_bucket(
        provider.devices, request.cookies.get(DEVICE_COOKIE), provider.clock.now(), raw, user.id if user else None
    )
    if not await is_attempt_admitted(provider.throttle, request, "reset", bucket):
        return provider.pages.render(request, "reset.html", status=429, error_key="login.throttled")
    if email is None:
        return provider.pages.render(request, "reset.html", status=400, error_key="register.email_invalid")
    response = provider.pages.render(
        request, "notice.html", heading_key="reset.sent_heading", message_key="reset.sent_body"
    )
    if user is not None and not user.disabled:
        # Sent after the answer: otherwise the mail's cost tells known addresses from unknown ones.
        response.background = BackgroundTask(send_reset, provider, user)
    return response


async def reset_confirm_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    token = request.query_params.get("token")
    try:
        await _check_reset_link(provider, token)
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    return _choose_page(request, provider, token, {})


async def reset_confirm_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
        token = form.get("token")
        claims, user = await _check_reset_link(provider, token)
    except PageRefused as refused:
        return refused.render(request, provider)
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    password = form.get("password", "")
    try:
        check_new_password(password, email=user.email, name=user.name)
    except PasswordRejected as rejected:
        return _choose_page(request, provider, token, {"password": rejected.key}, status=400)
    if password != form.get("password_confirm", ""):
        return _choose_page(request, provider, token, {"password_confirm": "password.mismatch"}, status=400)
    password_hash = await provider.ctx.passwords.hash(password)
    now = provider.clock.now()
    try:
        async with provider.sessionmaker() as session, session.begin():
            row = await load_user_for_update(session, claims.user_id)
            if row is None or str(row.password_changed_at) != claims.binding:
                raise LinkInvalid("password changed meanwhile")
            await consume_link(session, claims)
            set_password(row, password_hash, now)
            row.email_verified = True  # the link reached the mailbox: the address is proven
            await revoke_user_grants(session, row.id, now, "password_reset")
            add_security_event(
                session,
                "password.reset",
                now,
                user_id=row.id,
                reason="link",
                ip=request.client.host if request.client else None,
            )
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    await end_all_sessions(provider, user.id)
    await send_password_changed(provider, user)
    response = provider.pages.render(
        request, "notice.html", heading_key="reset.done_heading", message_key="reset.done_body"
    )
    response.delete_cookie(provider.session_cookie, path="/", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _check_reset_link(provider: Provider, token: str | None) -> tuple[LinkClaims, User]:
    claims = provider.links.check(token, "reset-password", provider.clock.now())
    async with provider.sessionmaker() as session:
        if await is_link_used(session, claims):
            raise LinkInvalid("already used")
        user = await load_user(session, claims.user_id)
    if user is None or user.disabled or str(user.password_changed_at) != claims.binding:
        raise LinkInvalid("stale")
    return claims, user


def _choose_page(
    request: Request, provider: Provider, token: str | None, problems: dict[str, str], status: int = 200
) -> Response:
    return provider.pages.render(
        request,
        "confirm_link.html",
        status=status,
        action="/auth/reset/confirm",
        token=token,
        new_password=True,
        problems=problems,
        heading_key="reset.choose_heading",
        button_key="reset.choose_submit",
    )
