"""Changing the account's email address: the new address is used only once its owner confirms it.

The request needs the current password; the link goes to the new address and is bound to both the
old and the new one (a second change, or the new address being taken meanwhile, kills it). The
answer never says whether the new address already belongs to someone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.account_mail import send_account_exists, send_credential_changed, send_email_change
from idp.accounts import is_email_taken, load_user_for_update, normalise_email
from idp.endpoints.account_session import credential_form_action
from idp.errors import InvalidInput
from idp.links import LinkInvalid, consume_link, is_link_used
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.sessions import ActiveSession


@credential_form_action
async def email_change_submit(
    request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]
) -> Response:
    user = active.user
    if not await is_attempt_admitted(provider.throttle, request, "password", user.id):
        return provider.pages.error(request, "login.throttled", 429)
    if not await provider.ctx.passwords.verify(user.password_hash, form.get("current_password", "")[:128]):
        return see_other("/account?done=email_password")
    try:
        new_email = normalise_email(form.get("email", "")[:254])
    except InvalidInput:
        return see_other("/account?done=email_invalid")
    if new_email != user.email:
        async with provider.sessionmaker() as session:
            taken = await is_email_taken(session, new_email)
        if not taken:
            await send_email_change(provider, user, new_email)
        else:
            await send_account_exists(provider, new_email)
    return see_other("/account?done=email_sent")


async def email_confirm_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    token = request.query_params.get("token")
    try:
        claims = provider.links.check(token, "change-email", provider.clock.now())
        async with provider.sessionmaker() as session:
            if await is_link_used(session, claims):
                raise LinkInvalid("already used")
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    return provider.pages.render(
        request,
        "confirm_link.html",
        action="/account/email/confirm",
        token=token,
        heading_key="verify.heading",
        button_key="verify.submit",
    )


async def email_confirm_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
        now = provider.clock.now()
        claims = provider.links.check(form.get("token"), "change-email", now)
        old_email, _, new_email = claims.binding.partition(" ")
        async with provider.sessionmaker() as session, session.begin():
            user = await load_user_for_update(session, claims.user_id)
            taken = await is_email_taken(session, new_email)
            if user is None or user.email != old_email or taken:
                raise LinkInvalid("stale")
            await consume_link(session, claims)
            user.email, user.email_verified, user.updated_at = new_email, True, now
    except PageRefused as refused:
        return refused.render(request, provider)
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    # The old address loses password resets from now on: it hears of the change, and can take it back.
    await send_credential_changed(provider, user, "email_changed", ref=old_email, to=old_email)
    return provider.pages.render(
        request, "notice.html", heading_key="verify.done_heading", message_key="verify.done_body"
    )
