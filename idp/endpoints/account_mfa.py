"""``/account/totp``: turn an authenticator app on (QR, confirm with a code, recovery codes) or off.

Turning it off or making new recovery codes needs a current code (TOTP or an unused recovery code):
a stolen session cookie alone cannot remove the second factor.
"""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from idp.account_mail import send_credential_changed
from idp.accounts import load_user, load_user_for_update
from idp.endpoints.account_session import credential_form_action, load_account_session
from idp.fresh_auth import needs_reauth, reauth_redirect
from idp.i18n import pick_locale, translator
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.recovery_codes import DOWNLOAD_WINDOW, delete_recovery_codes, load_fresh_digests
from idp.security_events import add_security_event
from idp.sessions import ActiveSession
from idp.storage.models import User
from idp.totp import accept_step, build_provisioning_uri, build_qr_svg, match_step, new_secret


async def totp_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    if active.user.totp_secret is not None:
        return see_other("/account")
    if needs_reauth(provider, active):
        return reauth_redirect(provider, "/account/totp")
    secret = await _pending_secret(provider, active.user)
    return _enrol_page(request, provider, active.user, secret)


@credential_form_action
async def totp_submit(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
    user = active.user
    if not await is_attempt_admitted(provider.throttle, request, "totp", user.id):
        return provider.pages.error(request, "login.throttled", 429)
    secret = provider.secret_box.open(user.totp_pending_secret, user.id) if user.totp_pending_secret else None
    now = provider.clock.now()
    step = match_step(secret, form.get("code", "")[:16], now) if secret else None
    if secret is None or step is None:
        if secret is None:
            return see_other("/account/totp")
        return _enrol_page(request, provider, user, secret, error_key="mfa.failed", status=400)
    async with provider.sessionmaker() as session, session.begin():
        row = await load_user_for_update(session, user.id)
        assert row is not None
        row.totp_secret, row.totp_pending_secret, row.totp_last_step = row.totp_pending_secret, None, step
        row.updated_at = now
        codes = await provider.recovery_codes.replace(session, user.id, now)
        add_security_event(session, "mfa.changed", now, user_id=user.id, reason="totp_enabled")
    await send_credential_changed(provider, user, "totp_enabled")
    return provider.pages.render(request, "recovery_codes.html", codes=codes)


async def totp_disable(request: Request) -> Response:
    return await _with_current_code(request, "disable")


async def recovery_codes_renew(request: Request) -> Response:
    return await _with_current_code(request, "renew")


async def _with_current_code(request: Request, action: str) -> Response:
    provider: Provider = request.app.state.provider
    active = await load_account_session(request, provider)
    if active is None:
        return see_other("/auth/login")
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    if needs_reauth(provider, active):
        return reauth_redirect(provider)
    user = active.user
    if user.totp_secret is None:
        return see_other("/account")
    if not await is_attempt_admitted(provider.throttle, request, "totp", user.id):
        return provider.pages.error(request, "login.throttled", 429)
    now = provider.clock.now()
    secret = provider.secret_box.open(user.totp_secret, user.id)
    step = match_step(secret, form.get("code", "")[:16], now) if secret else None
    async with provider.sessionmaker() as session, session.begin():
        code_ok = step is not None and await accept_step(session, user.id, step)
        # A lost phone: a recovery code also proves the factor, so the citizen can turn TOTP off and re-enrol.
        if not code_ok and not await provider.recovery_codes.redeem(session, user.id, form.get("code", "")[:32], now):
            return see_other("/account?done=code_failed")
        codes = None
        if action == "renew":
            codes = await provider.recovery_codes.replace(session, user.id, now)
        else:
            row = await load_user(session, user.id)
            assert row is not None
            row.totp_secret, row.totp_last_step, row.updated_at = None, None, now
            await delete_recovery_codes(session, user.id)
            add_security_event(session, "mfa.changed", now, user_id=user.id, reason="totp_disabled")
    await send_credential_changed(provider, user, "recovery_codes" if codes else "totp_disabled")
    if codes:
        return provider.pages.render(request, "recovery_codes.html", codes=codes)
    return see_other("/account?done=totp_off")


@credential_form_action
async def recovery_codes_download(
    request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]
) -> Response:
    """The codes just shown, as a text file to keep. Codes are stored as digests and never shown again, so the page
    posts them back; only the person's own unused codes made in the last ``DOWNLOAD_WINDOW`` seconds are written
    (right after they were generated, in a recent sign-in): nothing else is echoed, nothing is cached."""
    now = provider.clock.now()
    async with provider.sessionmaker() as session:
        fresh = await load_fresh_digests(session, active.user.id, now - DOWNLOAD_WINDOW)
    codes = [code for code in form.get("codes", "")[:1000].split() if provider.recovery_codes.digest(code) in fresh]
    if not codes:
        return provider.pages.error(request, "totp.codes_gone", 400)
    t = translator(pick_locale(request, provider.settings.default_locale))
    text = "\r\n".join([t("totp.codes_file_heading"), active.user.email, "", *codes, ""])
    return Response(
        text.encode(),
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="gerbang-kode-pemulihan.txt"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _pending_secret(provider: Provider, user: User) -> str:
    """The enrolment secret shown until confirmed (reloading the page keeps the same QR code)."""
    if user.totp_pending_secret:
        opened = provider.secret_box.open(user.totp_pending_secret, user.id)
        if opened:
            return opened
    secret = new_secret()
    async with provider.sessionmaker() as session, session.begin():
        row = await load_user(session, user.id)
        assert row is not None
        row.totp_pending_secret = provider.secret_box.seal(secret, user.id)
    return secret


def _enrol_page(
    request: Request, provider: Provider, user: User, secret: str, error_key: str | None = None, status: int = 200
) -> Response:
    uri = build_provisioning_uri(secret, user.email)
    return provider.pages.render(
        request, "totp_enrol.html", status=status, secret=secret, qr=Markup(build_qr_svg(uri)), error_key=error_key
    )  # noqa: S704 (our own SVG)
