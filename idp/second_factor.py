"""The step between "password accepted" and "signed in" for accounts with a second factor.

A ``LoginChallenge`` row remembers who proved what; the browser holds its random id in an HttpOnly
cookie. It lives a few minutes and allows a few wrong codes before the password must be given again.
``acr`` "2" (and ``amr`` with ``otp``/``hwk``) is only ever set after this step succeeds.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.sessions import ActiveSession
from idp.storage.db import rows_affected
from idp.storage.models import LoginChallenge, Passkey, User

COOKIE = "gerbang_mfa"
MAX_ATTEMPTS = 5
LEVEL_TWO = "2"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def has_second_factor(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, session: AsyncSession | None = None
) -> bool:
    """An authenticator app or at least one passkey (read in the caller's ``session`` when given)."""
    if user.totp_secret is not None:
        return True
    if session is not None:
        return await session.scalar(ANY_PASSKEY, {"passkey__user": user.id}) is not None
    async with sessionmaker() as own:
        return await own.scalar(ANY_PASSKEY, {"passkey__user": user.id}) is not None


ANY_PASSKEY = select(Passkey.credential_id).where(Passkey.user_id == bindparam("passkey__user")).limit(1)  # built once


async def is_step_up_needed(
    sessionmaker: async_sessionmaker[AsyncSession],
    acr_values: str | None,
    active: ActiveSession,
    session: AsyncSession | None = None,
) -> bool:
    """The client asked for level 2, the session is below it, and the user has a factor to give."""
    requested = (acr_values or "").split()
    return (
        LEVEL_TWO in requested
        and active.row.acr != LEVEL_TWO
        and await has_second_factor(sessionmaker, active.user, session)
    )


class ChallengeStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, ttl: int) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._ttl = ttl

    async def create(self, user: User, interaction: str | None, first_factor: list[str]) -> str:
        value = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at <= now))
            session.add(
                LoginChallenge(
                    id_digest=_digest(value),
                    user_id=user.id,
                    interaction=interaction,
                    first_factor=first_factor,
                    created_at=now,
                    expires_at=now + self._ttl,
                    attempts=0,
                )
            )
        return value

    async def load(self, value: str | None) -> tuple[LoginChallenge, User] | None:
        if not value or len(value) > 100:
            return None
        async with self._sessionmaker() as session:
            row = await session.get(LoginChallenge, _digest(value))
            if row is None or row.expires_at <= self._clock.now() or row.attempts >= MAX_ATTEMPTS:
                return None
            user = await session.get(User, row.user_id)
        if user is None or user.disabled:
            return None
        return row, user

    async def count_failure(self, row: LoginChallenge) -> int:
        async with self._sessionmaker() as session, session.begin():
            stored = await session.scalar(
                select(LoginChallenge).where(LoginChallenge.id_digest == row.id_digest).with_for_update()
            )
            if stored is None:
                return MAX_ATTEMPTS
            stored.attempts += 1
            return stored.attempts

    async def finish(self, row: LoginChallenge) -> bool:
        """Use the challenge up; ``False`` if another request already did (one success per password)."""
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(delete(LoginChallenge).where(LoginChallenge.id_digest == row.id_digest))
            return rows_affected(result) == 1
