"""What a new password must be (NIST SP 800-63B §5.1.1.2): long enough, not common, not the user's own name.

No composition rules. Each refusal names an i18n key so the page can say why in the citizen's language.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from idp.accounts import check_password_rules
from idp.errors import InvalidInput
from idp.passwords import MIN_LENGTH


class PasswordRejected(InvalidInput):
    """A new password is not acceptable; ``key`` is the i18n text explaining why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@lru_cache(maxsize=1)
def load_common_passwords() -> frozenset[str]:
    text = resources.files("idp").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    return password.lower() in load_common_passwords()


def check_new_password(password: str, *, email: str = "", name: str = "") -> None:
    try:
        check_password_rules(password)
    except InvalidInput as exc:
        raise PasswordRejected("password.too_short" if len(password) < MIN_LENGTH else "password.too_long") from exc
    lowered = password.lower()
    if is_common_password(password):
        raise PasswordRejected("password.common")
    personal = {email.lower(), email.split("@", 1)[0].lower(), name.lower().replace(" ", "")}
    if lowered in personal - {""}:
        raise PasswordRejected("password.personal")
