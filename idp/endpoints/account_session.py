"""The signed-in citizen behind an ``/account`` request."""

from __future__ import annotations

from starlette.requests import Request

from idp.provider import Provider
from idp.sessions import ActiveSession


async def load_account_session(request: Request, provider: Provider) -> ActiveSession | None:
    return await provider.sessions.load(request.cookies.get(provider.session_cookie))
