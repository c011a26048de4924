"""CSRF protection for the provider's forms: a random cookie and an HMAC of it in the form.

The cookie is HttpOnly and SameSite=Strict; the form field is HMAC-SHA256(secret, cookie, session cookie), so a
cross-site page can neither read nor forge it, and a token is bound to the sign-in it was shown in (OWASP CSRF
cheat sheet: tie the token to the session): one planted before a login, or kept from another account's session in
the same browser, does not carry over.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "gerbang_csrf"
FIELD = "csrf_token"


class Csrf:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"gerbang-csrf" + secret).digest()

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(24)

    def token_for(self, cookie_value: str, session_value: str | None = None) -> str:
        bound = hashlib.sha256((session_value or "").encode()).hexdigest()
        return hmac.new(self._key, f"{cookie_value}\n{bound}".encode(), hashlib.sha256).hexdigest()

    def is_valid(self, cookie_value: str | None, token: str | None, session_value: str | None = None) -> bool:
        if not cookie_value or not token:
            return False
        # As bytes: compare_digest refuses (TypeError, a 500) a str with non-ASCII characters.
        return hmac.compare_digest(
            self.token_for(cookie_value, session_value).encode(), token.encode("utf-8", "surrogatepass")
        )
