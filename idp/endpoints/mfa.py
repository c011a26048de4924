"""``/auth/mfa``: the second factor after the password (TOTP or a recovery code), and step-up to ``acr`` 2.

RFC 8176 ``amr``: ``pwd`` then ``otp`` (a TOTP or one-time recovery code); the session becomes level 2.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.interactions import COOKIE as INTERACTION_COOKIE
from idp.login_throttle import is_attempt_admitted
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.second_factor import COOKIE, LEVEL_TWO, MAX_ATTEMPTS
from idp.security_events import note_login
from idp.signin import complete_sign_in
from idp.storage.models import User
from idp.totp import accept_step, match_step


async def start_second_factor(
    request: Request, provider: Provider, user: User, interaction_id: str | None, first_factor: list[str]
) -> Response:
    """Called once the first factor is proven: park the login until the second one is given."""
    value = await provider.challenges.create(user, interaction_id, first_factor)
    response = see_other("/auth/mfa")
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/auth",
        max_age=provider.settings.second_factor_ttl,
    )
    return response


async def step_up_page(request: Request) -> Response:
    """Reached from the authorization endpoint when a client asks for ``acr_values=2`` above the session's."""
    provider: Provider = request.app.state.provider
    interaction_id = request.query_params.get("interaction")
    interaction = await provider.interactions.load(interaction_id, request.cookies.get(INTERACTION_COOKIE))
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if interaction is None or active is None:
        return provider.pages.error(request, "error.expired", 400)
    return await start_second_factor(request, provider, active.user, interaction_id, list(active.row.amr))


async def mfa_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    found = await provider.challenges.load(request.cookies.get(COOKIE))
    if found is None:
        return provider.pages.error(request, "error.expired", 400)
    return await _render(request, provider, found[1], request.query_params.get("method", "totp"))


async def mfa_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    found = await provider.challenges.load(request.cookies.get(COOKIE))
    if found is None:
        return provider.pages.error(request, "error.expired", 400)
    challenge, user = found
    method = "recovery" if form.get("method") == "recovery" else "totp"
    if not await is_attempt_admitted(provider.throttle, request, method, user.id):
        await note_login(request, provider, "login.locked", user_id=user.id, reason="throttled")
        return await _render(request, provider, user, method, error_key="login.throttled", status=429)
    if not await _is_factor_valid(provider, user, method, form.get("code", "")[:64]):
        await note_login(request, provider, "login.failed", user_id=user.id, reason="second_factor")
        attempts = await provider.challenges.count_failure(challenge)
        if attempts >= MAX_ATTEMPTS:  # too many wrong codes: the password must be given again
            return provider.pages.error(request, "error.expired", 400)
        return await _render(request, provider, user, method, error_key="mfa.failed", status=400)
    if not await provider.challenges.finish(challenge):
        return provider.pages.error(request, "error.expired", 400)
    amr = list(dict.fromkeys([*challenge.first_factor, "otp"]))
    response = await complete_sign_in(
        request, provider, user, acr=LEVEL_TWO, amr=amr, interaction_id=challenge.interaction
    )
    response.delete_cookie(COOKIE, path="/auth", secure=provider.settings.uses_tls, httponly=True)
    return response


async def _is_factor_valid(provider: Provider, user: User, method: str, code: str) -> bool:
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        if method == "recovery":
            return await provider.recovery_codes.redeem(session, user.id, code, now)
        secret = provider.secret_box.open(user.totp_secret, user.id) if user.totp_secret else None
        step = match_step(secret, code, now) if secret else None
        return step is not None and await accept_step(session, user.id, step)


async def _render(
    request: Request, provider: Provider, user: User, method: str, error_key: str | None = None, status: int = 200
) -> Response:
    has_passkeys = bool(await provider.passkeys.list_for(user.id))
    return provider.pages.render(
        request,
        "mfa.html",
        status=status,
        method=method,
        error_key=error_key,
        has_totp=user.totp_secret is not None,
        has_passkeys=has_passkeys,
    )
