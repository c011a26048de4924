"""Re-authentication before changing how an account signs in (OIDC Core's ``max_age``, applied to ``/account``).

Adding or removing a passkey, the authenticator app or recovery codes, and changing the email address or the
password need a sign-in no older than ``reauth_max_age`` seconds (NIST SP 800-63B §7.1.2, OWASP ASVS V3.7.1):
a stolen session cookie alone cannot add a sign-in method. An older session is sent through the sign-in page
(every factor the account has) and then back to where it was; the way back is one of a few fixed pages, kept
in a short-lived cookie, never a URL taken from the request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.http import NO_STORE
from idp.pages import see_other
from idp.provider import Provider
from idp.sessions import ActiveSession

RETURN_COOKIE = "gerbang_return"
RETURN_PATHS = ("/account", "/account/totp")
REAUTH_LOGIN = "/auth/login?reauth=1"
RETURN_TTL = 15 * 60


def is_recent_sign_in(active: ActiveSession, now: int, max_age: int) -> bool:
    return now - active.row.auth_time <= max_age


def needs_reauth(provider: Provider, active: ActiveSession) -> bool:
    return not is_recent_sign_in(active, provider.clock.now(), provider.settings.reauth_max_age)


def reauth_redirect(provider: Provider, return_to: str = "/account") -> Response:
    """To the sign-in page, and back to ``return_to`` once signed in again."""
    return _remember_return(provider, see_other(REAUTH_LOGIN), return_to)


def reauth_json(provider: Provider, return_to: str = "/account") -> Response:
    """The same for the page's script (passkey ceremonies): it follows ``redirect``."""
    response = JSONResponse({"error": "reauth_required", "redirect": REAUTH_LOGIN}, status_code=401, headers=NO_STORE)
    return _remember_return(provider, response, return_to)


def return_target(request: Request) -> str | None:
    value = request.cookies.get(RETURN_COOKIE)
    return value if value in RETURN_PATHS else None


def forget_return(provider: Provider, response: Response) -> None:
    response.delete_cookie(RETURN_COOKIE, path="/", secure=provider.settings.uses_tls, httponly=True)


def _remember_return(provider: Provider, response: Response, return_to: str) -> Response:
    target = return_to if return_to in RETURN_PATHS else "/account"
    response.set_cookie(
        RETURN_COOKIE,
        target,
        httponly=True,
        samesite="lax",
        secure=provider.settings.uses_tls,
        path="/",
        max_age=RETURN_TTL,
    )
    return response
