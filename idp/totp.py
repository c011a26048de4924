"""TOTP (RFC 6238) second factor: sealed secrets, QR enrolment, and one use per time step.

pyotp has no replay protection; we store the last accepted time step per user and accept a code only
for a later step, with a conditional UPDATE so two concurrent submissions of one code cannot both win.
Secrets are sealed with AES-GCM under a key derived from the settings secret: a database dump alone
does not yield working authenticators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import quote

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.db import rows_affected
from idp.storage.models import User

STEP = 30
DIGITS = 6
WINDOW = 1  # steps either side accepted, for clock drift (RFC 6238 §5.2)
ISSUER = "Gerbang Palembang"


class SecretBox:
    """AES-256-GCM sealing for small secrets at rest, bound to the user id (associated data)."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(b"gerbang-totp-seal" + secret).digest())

    def seal(self, plaintext: str, user_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), user_id.encode())
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, user_id: str) -> str | None:
        if not sealed.startswith("v1."):
            return None
        raw = base64.urlsafe_b64decode(sealed[3:])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], user_id.encode()).decode()
        except InvalidTag:
            return None


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226 §4 recommends at least 128


def build_provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=account, issuer_name=ISSUER)


def build_qr_svg(uri: str) -> str:
    """An inline ``<svg>`` (presentation attributes only, so the page's CSP needs no exception)."""
    # Imported here: only enrolment draws a QR code, and qrcode with its SVG factory (xml.etree) would
    # otherwise sit in every worker's memory.
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg: str = image.to_string(encoding="unicode")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{quote(ISSUER)} QR" ', 1)


def match_step(secret: str, code: str, now: int) -> int | None:
    """The time step ``code`` is valid for (within the drift window), or ``None``."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = now // STEP
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):  # compare all: no early exit on timing
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def accept_step(session: AsyncSession, user_id: str, step: int) -> bool:
    """Record ``step`` as used; ``False`` when it (or a later one) was already accepted: a replay."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return rows_affected(result) == 1
