"""The signed-in citizen behind an ``/account`` request."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from idp.fresh_auth import needs_reauth, reauth_redirect
from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.sessions import ActiveSession


async def load_account_session(request: Request, provider: Provider) -> ActiveSession | None:
    return await provider.sessions.load(request.cookies.get(provider.session_cookie))


AccountAction = Callable[[Request, Provider, ActiveSession, dict[str, str]], Awaitable[Response]]


def account_form_action(action: AccountAction) -> Callable[[Request], Awaitable[Response]]:
    """A form posted from ``/account``: the action runs for the signed-in citizen with a CSRF-checked form;
    without a session the browser goes to sign in, a bad form gets the readable refusal page."""

    @functools.wraps(action)
    async def endpoint(request: Request) -> Response:
        provider: Provider = request.app.state.provider
        active = await load_account_session(request, provider)
        if active is None:
            return see_other("/auth/login")
        try:
            form = await read_page_form(request, provider)
        except PageRefused as refused:
            return refused.render(request, provider)
        return await action(request, provider, active, form)

    return endpoint


def credential_form_action(action: AccountAction) -> Callable[[Request], Awaitable[Response]]:
    """An ``/account`` form that changes how the account signs in: it also needs a recent sign-in
    (``idp.fresh_auth``); an older session signs in again first and comes back to ``/account``."""

    @functools.wraps(action)
    async def fresh(request: Request, provider: Provider, active: ActiveSession, form: dict[str, str]) -> Response:
        if needs_reauth(provider, active):
            return reauth_redirect(provider)
        return await action(request, provider, active, form)

    return account_form_action(fresh)
