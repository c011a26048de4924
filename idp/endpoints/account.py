"""``/account``: the signed-in citizen's own page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.pages import see_other
from idp.provider import Provider


async def account_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if active is None:
        return see_other("/auth/login")
    return provider.pages.render(request, "account.html", user=active.user)
