"""MFA recovery codes: ten random one-time codes, shown once, stored as keyed digests.

Each code is 10 base32 characters (50 bits); an HMAC under the settings secret (rather than a slow
hash) keeps verification cheap while a database dump alone cannot test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.db import rows_affected
from idp.storage.models import RecoveryCode

COUNT = 10
DOWNLOAD_WINDOW = 900  # seconds after generation during which the page may download the codes it shows
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed from paper


class RecoveryCodes:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"gerbang-recovery-code" + secret).digest()

    def digest(self, code: str) -> str:
        normalised = code.strip().lower().replace("-", "").replace(" ", "")
        return hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()

    async def replace(self, session: AsyncSession, user_id: str, now: int) -> list[str]:
        """New codes for the user; every older code stops working."""
        await delete_recovery_codes(session, user_id)
        codes = [_new_code() for _ in range(COUNT)]
        for code in codes:
            session.add(RecoveryCode(code_digest=self.digest(code), user_id=user_id, created_at=now))
        return codes

    async def redeem(self, session: AsyncSession, user_id: str, code: str, now: int) -> bool:
        if not 8 <= len(code) <= 32:
            return False
        result = await session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.code_digest == self.digest(code),
                RecoveryCode.user_id == user_id,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return rows_affected(result) == 1


async def delete_recovery_codes(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


async def count_unused(session: AsyncSession, user_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


async def load_fresh_digests(session: AsyncSession, user_id: str, since: int) -> set[str]:
    """Digests of the person's unused codes made at or after ``since`` (the download after generation)."""
    rows = await session.scalars(
        select(RecoveryCode.code_digest).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None), RecoveryCode.created_at >= since
        )
    )
    return set(rows.all())
