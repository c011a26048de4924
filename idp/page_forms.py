"""Reading a page's POSTed form: bounded body, CSRF checked; a refusal names the error page to show."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.http import FormError, read_form
from idp.provider import Provider


class PageRefused(Exception):
    def __init__(self, message_key: str, status: int) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.status = status

    def render(self, request: Request, provider: Provider) -> Response:
        return provider.pages.error(request, self.message_key, self.status)


async def read_page_form(request: Request, provider: Provider) -> dict[str, str]:
    try:
        form = dict(await read_form(request))
    except FormError as exc:
        raise PageRefused("error.back", 413 if exc.status == 413 else 400) from exc
    if not provider.pages.is_csrf_valid(request, form):
        raise PageRefused("error.csrf", 403)
    return form
