"""``/auth/register`` (also reached by ``prompt=create``) and ``/auth/verify-email``.

Whatever the outcome of a valid form (new account, email taken, NIK taken) the answer is the same
"check your email" page; the mailbox owner learns which one it was, and a NIK's owner is told when
someone signs up with it (the registrant is not).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.account_mail import send_account_exists, send_nik_taken, send_verification
from idp.accounts import load_user_for_update
from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.links import LinkInvalid, consume_link, is_link_used
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.provider import Provider
from idp.registration import Outcome, RegistrationInvalid, check_registration, create_account


async def register_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    interaction = await _live_interaction(request, provider, request.query_params.get("interaction"))
    return provider.pages.render(request, "register.html", interaction=interaction, values={}, problems={})


async def register_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    interaction = await _live_interaction(request, provider, form.get("interaction"))
    values = {k: form.get(k, "")[:254] for k in ("name", "email", "nik")}
    if not await is_attempt_admitted(provider.throttle, request, "register", values["email"]):
        return provider.pages.render(
            request,
            "register.html",
            status=429,
            interaction=interaction,
            values=values,
            problems={},
            error_key="login.throttled",
        )
    try:
        registration = check_registration(form)
    except RegistrationInvalid as invalid:
        return provider.pages.render(
            request, "register.html", status=400, interaction=interaction, values=values, problems=invalid.problems
        )
    password_hash = await provider.ctx.passwords.hash(registration.password)  # on every path: same timing
    created = await create_account(
        provider.sessionmaker,
        registration,
        password_hash,
        provider.clock.now(),
        privacy_version=provider.settings.privacy_notice_version,
    )
    if created.outcome is Outcome.CREATED:
        assert created.user is not None
        await send_verification(provider, created.user)
    else:
        await send_account_exists(provider, registration.email)
    if created.nik_owner is not None:
        await send_nik_taken(provider, created.nik_owner)
    return provider.pages.render(
        request,
        "notice.html",
        heading_key="register.sent_heading",
        message_key="register.sent_body",
        login_interaction=interaction,
    )


async def verify_email_page(request: Request) -> Response:
    """GET shows a button, POST confirms: a link scanner fetching the URL must not use up the link."""
    provider: Provider = request.app.state.provider
    token = request.query_params.get("token")
    try:
        claims = provider.links.check(token, "verify-email", provider.clock.now())
        async with provider.sessionmaker() as session:
            if await is_link_used(session, claims):
                raise LinkInvalid("already used")
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    return provider.pages.render(
        request,
        "confirm_link.html",
        action="/auth/verify-email",
        token=token,
        heading_key="verify.heading",
        button_key="verify.submit",
    )


async def verify_email_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
        now = provider.clock.now()
        claims = provider.links.check(form.get("token"), "verify-email", now)
        async with provider.sessionmaker() as session, session.begin():
            user = await load_user_for_update(session, claims.user_id)
            if user is None or user.email != claims.binding:
                raise LinkInvalid("address changed")
            await consume_link(session, claims)
            user.email_verified = True
            user.updated_at = now
    except PageRefused as refused:
        return refused.render(request, provider)
    except LinkInvalid:
        return provider.pages.error(request, "link.invalid", 400)
    interaction = await _live_interaction(request, provider, request.cookies.get(INTERACTION_COOKIE))
    return provider.pages.render(
        request,
        "notice.html",
        heading_key="verify.done_heading",
        message_key="verify.done_body",
        login_interaction=interaction,
    )


async def _live_interaction(request: Request, provider: Provider, value: str | None) -> str | None:
    """The parked authorization request this browser is in, if any, so sign-in can continue it."""
    if not value:
        return None
    found = await provider.interactions.load(value, request.cookies.get(INTERACTION_COOKIE))
    return value if found is not None else None
