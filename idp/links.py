"""Signed, expiring, single-use links sent by email (verify an address, reset a password).

A link carries ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))``. The payload names
its purpose, the user, a *binding* (the address being verified, or the password-change time, so a
reset link dies once the password changes) and an expiry. Single use: redeeming a link inserts its
nonce into ``replay_marks`` in the same transaction as the change it makes; a second insert fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.models import ReplayMark

PURPOSES = ("verify-email", "reset-password", "change-email", "undo-change")
MAX_TOKEN_LENGTH = 600


class LinkInvalid(Exception):
    """The link is forged, malformed, expired, for another purpose, or already used."""


@dataclass(frozen=True)
class LinkClaims:
    purpose: str
    user_id: str
    binding: str
    expires_at: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"gerbang-email-link" + secret).digest()

    def build(self, purpose: str, user_id: str, binding: str, expires_at: int) -> str:
        assert purpose in PURPOSES
        payload = json.dumps(
            {"p": purpose, "u": user_id, "b": binding, "e": expires_at, "n": secrets.token_urlsafe(16)},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def check(self, token: str | None, purpose: str, now: int) -> LinkClaims:
        """Signature, purpose and expiry; single use is checked by :func:`consume_link`."""
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise LinkInvalid("malformed")
        encoded, mac = token.split(".")
        try:
            payload = _unb64(encoded)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise LinkInvalid("bad signature")
            data = json.loads(payload)
        except (binascii.Error, ValueError) as exc:
            raise LinkInvalid("malformed") from exc
        claims = LinkClaims(
            purpose=str(data.get("p")),
            user_id=str(data.get("u")),
            binding=str(data.get("b")),
            expires_at=int(data.get("e", 0)),
            nonce=str(data.get("n")),
        )
        if claims.purpose != purpose:
            raise LinkInvalid("wrong purpose")
        if claims.expires_at <= now:
            raise LinkInvalid("expired")
        return claims

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()


async def is_link_used(session: AsyncSession, claims: LinkClaims) -> bool:
    return await session.get(ReplayMark, _mark_key(claims)) is not None


async def consume_link(session: AsyncSession, claims: LinkClaims) -> None:
    """Mark the link used inside the caller's transaction; raises when it already was."""
    if await is_link_used(session, claims):
        raise LinkInvalid("already used")
    session.add(ReplayMark(key=_mark_key(claims), expires_at=claims.expires_at))
    try:
        await session.flush()  # a concurrent redeemer loses on the primary key
    except IntegrityError as exc:
        raise LinkInvalid("already used") from exc


def _mark_key(claims: LinkClaims) -> str:
    return f"link:{claims.purpose}:{claims.nonce}"
