"""OWASP "Slow down online guessing attacks with device cookies": a browser that signed in to an account before
keeps its own allowance of login attempts for that account.

After every successful sign-in the browser gets ``gerbang_device``: ``user id . nonce . issued`` with an
HMAC-SHA256 under the settings secret. A later password attempt for the same account that presents a valid
cookie is throttled on the cookie's own bucket (``device:<nonce>``, the same ``login-per-account`` limits)
instead of the account's shared bucket for unknown browsers; so a stranger who spends the unknown-browser
allowance (five wrong passwords from anywhere) does not lock the owner out of her own browser, and a browser
that guesses wrongly spends only its own allowance. An attacker cannot mint a device cookie for someone else's
account: it needs the key, or a successful sign-in to that account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "gerbang_device"
LIFETIME = 180 * 86_400
MAX_LENGTH = 200


@dataclass(frozen=True)
class Device:
    user_id: str
    nonce: str
    issued_at: int


class DeviceCookies:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"gerbang-device-cookie" + secret).digest()

    def build(self, user_id: str, now: int) -> str:
        payload = f"{user_id}.{secrets.token_urlsafe(12)}.{now}"
        return f"{base64.urlsafe_b64encode(payload.encode()).decode().rstrip('=')}.{self._mac(payload)}"

    def read(self, value: str | None, now: int) -> Device | None:
        """The device a valid, unexpired cookie names; ``None`` for anything else."""
        if not value or len(value) > MAX_LENGTH or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)) or payload.count(".") != 2:
            return None
        user_id, nonce, issued = payload.split(".")
        if not issued.isdigit() or int(issued) + LIFETIME <= now:
            return None
        return Device(user_id, nonce, int(issued))

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:43]


def attempt_bucket(devices: DeviceCookies, cookie: str | None, now: int, login: str, user_id: str | None) -> str:
    """Whose allowance an attempt on ``login`` spends: a browser that signed in to this account before spends its
    own; any other source spends the account's shared allowance for unknown browsers (one per account, whichever
    of its names is typed); a name with no account spends its own."""
    if user_id is None:
        return login
    device = devices.read(cookie, now)
    if device is not None and device.user_id == user_id:
        return f"device:{device.nonce}"
    return f"account:{user_id}"
