"""``/account/undo``: "I did not do this" from a credential-change mail.

The link is signed, expires (``undo_link_ttl``) and works once. GET only shows a button (a mail scanner
fetching the link changes nothing); POST, with no session needed (the person may be locked out), ends every
session of the account and revokes every token family, and undoes the change where that is still possible:
a passkey or authenticator app someone else added is removed, an email address someone else changed goes back.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from idp.accounts import is_email_taken, load_user_for_update
from idp.credentials import end_all_sessions, revoke_user_grants
from idp.links import LinkClaims, LinkInvalid, consume_link, is_link_used
from idp.page_forms import PageRefused, read_page_form
from idp.provider import Provider
from idp.recovery_codes import delete_recovery_codes
from idp.storage.models import User
from idp.webauthn_keys import remove_passkeys_by_ref

PURPOSE = "undo-change"


async def undo_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    token = request.query_params.get("token")
    try:
        claims = provider.links.check(token, PURPOSE, provider.clock.now())
        async with provider.sessionmaker() as session:
            if await is_link_used(session, claims):
                raise LinkInvalid("already used")
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    return provider.pages.render(
        request,
        "confirm_link.html",
        action="/account/undo",
        token=token,
        heading_key="undo.heading",
        message_key="undo.question",
        button_key="undo.submit",
    )


async def undo_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    now = provider.clock.now()
    try:
        form = await read_page_form(request, provider)
        claims = provider.links.check(form.get("token"), PURPOSE, now)
        async with provider.sessionmaker() as session, session.begin():
            user = await load_user_for_update(session, claims.user_id)
            if user is None:
                raise LinkInvalid("no such account")
            await consume_link(session, claims)
            await _undo_change(session, user, claims, now)
            await revoke_user_grants(session, user.id, now, "undo_link")
    except PageRefused as refused:
        return refused.render(request, provider)
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    await end_all_sessions(provider, user.id)
    response = provider.pages.render(
        request, "notice.html", heading_key="undo.done_heading", message_key="undo.done_body"
    )
    response.delete_cookie(provider.session_cookie, path="/", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _undo_change(session: AsyncSession, user: User, claims: LinkClaims, now: int) -> None:
    event, _, ref = claims.binding.partition(":")
    if event == "passkey_added":
        await remove_passkeys_by_ref(session, user.id, ref)
    elif event == "totp_enabled" and user.totp_secret is not None:
        user.totp_secret, user.totp_pending_secret, user.totp_last_step = None, None, None
        await delete_recovery_codes(session, user.id)
    elif event == "email_changed" and ref and user.email != ref:
        if not await is_email_taken(session, ref):
            user.email, user.email_verified = ref, True
    user.updated_at = now
