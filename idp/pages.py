"""Server-rendered pages: Jinja2, locale, CSRF cookie, and the security headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from idp.csrf import COOKIE as CSRF_COOKIE
from idp.csrf import Csrf
from idp.i18n import pick_locale, remember_choice, translator

TEMPLATES = Path(__file__).parent / "templates"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Pages:
    def __init__(self, csrf: Csrf, default_locale: str, secure_cookies: bool, session_cookie: str = "") -> None:
        self.csrf = csrf
        self.session_cookie = session_cookie  # CSRF tokens are bound to the session cookie's value
        self.default_locale = default_locale
        self.secure_cookies = secure_cookies
        # The templates ship with the code: compiled once, never checked for changes on disk again.
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
        )

    def render(
        self, request: Request, template: str, status: int = 200, ui_locales: str | None = None, **context: Any
    ) -> HTMLResponse:
        locale = pick_locale(request, self.default_locale, ui_locales)
        csrf_cookie = request.cookies.get(CSRF_COOKIE) or self.csrf.new_cookie()
        # The language switch keeps the page's own query (an interaction id, say).
        lang_query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
        html = self.env.get_template(template).render(
            t=translator(locale),
            lang=locale,
            lang_query=lang_query,
            csrf_token=self.csrf.token_for(csrf_cookie, request.cookies.get(self.session_cookie)),
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        remember_choice(request, response, self.secure_cookies)
        if request.cookies.get(CSRF_COOKIE) != csrf_cookie:
            response.set_cookie(
                CSRF_COOKIE, csrf_cookie, httponly=True, samesite="strict", secure=self.secure_cookies, path="/"
            )
        return response

    def error(self, request: Request, message_key: str, status: int = 400, detail: str | None = None) -> HTMLResponse:
        return self.render(request, "error.html", status=status, message_key=message_key, detail=detail)

    def is_csrf_valid(self, request: Request, form: dict[str, str]) -> bool:
        return self.csrf.is_valid(
            request.cookies.get(CSRF_COOKIE), form.get("csrf_token"), request.cookies.get(self.session_cookie)
        )


def see_other(location: str, headers: dict[str, str] | None = None) -> Response:
    """303 after POST (RFC 9700 §4.11: never 307, which would re-post credentials)."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store", **(headers or {})})
