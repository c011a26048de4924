"""CSRF protection for the provider's forms: a random cookie and an HMAC of it in the form.

The cookie is HttpOnly and SameSite=Strict; the form field is HMAC-SHA256(secret, cookie), so a
cross-site page can neither read nor forge it.
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

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def is_valid(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token:
            return False
        # As bytes: compare_digest refuses (TypeError, a 500) a str with non-ASCII characters.
        return hmac.compare_digest(self.token_for(cookie_value).encode(), token.encode("utf-8", "surrogatepass"))
