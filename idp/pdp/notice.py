"""The privacy notice (UU PDP Art. 21): shown at registration, accepted with its version, asked again at the next
sign-in when Kominfo publishes a new version (``privacy_notice_version``).

Accounts that never saw a notice (``privacy_version`` None: created before notices existed, or by an
administrator) are not stopped at sign-in; a citizen who accepted an older version is.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from idp.page_forms import PageRefused, read_page_form
from idp.pages import see_other
from idp.provider import Provider
from idp.storage.models import User


def needs_acceptance(user: User, version: str) -> bool:
    return user.privacy_version is not None and user.privacy_version != version


def accept(user: User, version: str, now: int) -> None:
    user.privacy_version, user.privacy_accepted_at = version, now


def gate(provider: Provider, user: User, target: str) -> str:
    """Where a finished sign-in goes: through the notice first when it changed since the citizen accepted it."""
    if needs_acceptance(user, provider.settings.privacy_notice_version):
        return f"/auth/privacy?{urlencode({'next': target})}"
    return target


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 2000:
        return "/account"
    return value


async def privacy_page(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    return provider.pages.render(
        request,
        "privacy_notice.html",
        version=provider.settings.privacy_notice_version,
        next=_safe_next(request.query_params.get("next")),
    )


async def privacy_submit(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    active = await provider.sessions.load(request.cookies.get(provider.session_cookie))
    if active is None:
        return see_other("/auth/login")
    try:
        form = await read_page_form(request, provider)
    except PageRefused as refused:
        return refused.render(request, provider)
    async with provider.sessionmaker() as session, session.begin():
        user = await session.get(User, active.user.id)
        assert user is not None
        accept(user, provider.settings.privacy_notice_version, provider.clock.now())
    return see_other(_safe_next(form.get("next")))
