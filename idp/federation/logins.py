"""Sign-ins through an upstream in flight, bound to the browser: the browser holds a random value in an
HttpOnly cookie (the upstream's ``state`` while the person is away, then a fresh one while they confirm),
the table its SHA-256. Each value is taken exactly once; nothing else in the flow is kept in the browser."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.storage.db import rows_affected
from idp.storage.models import FederationLogin

COOKIE = "gerbang_broker"
AWAY_TTL = 10 * 60  # time at the upstream
CONFIRM_TTL = 10 * 60  # time on the confirmation or linking page


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class FederationLogins:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def start(self, slug: str, state: str, nonce: str, code_verifier: str, interaction: str | None) -> None:
        now = self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(FederationLogin).where(FederationLogin.expires_at <= now))
            session.add(
                FederationLogin(
                    state_digest=_digest(state),
                    idp_slug=slug,
                    nonce=nonce,
                    code_verifier=code_verifier,
                    interaction=interaction,
                    claims=None,
                    created_at=now,
                    expires_at=now + AWAY_TTL,
                )
            )

    async def park_claims(self, slug: str, claims: dict[str, Any], interaction: str | None) -> str:
        """Verified claims waiting for the person's confirmation; returns the new cookie value."""
        value, now = secrets.token_urlsafe(32), self._clock.now()
        async with self._sessionmaker() as session, session.begin():
            session.add(
                FederationLogin(
                    state_digest=_digest(value),
                    idp_slug=slug,
                    nonce="",
                    code_verifier="",
                    interaction=interaction,
                    claims=claims,
                    created_at=now,
                    expires_at=now + CONFIRM_TTL,
                )
            )
        return value

    async def load(self, value: str | None, cookie: str | None, *, parked: bool) -> FederationLogin | None:
        """The row for ``value`` if the browser's cookie holds the same value and it is still valid."""
        if not value or not cookie or len(value) > 100 or not hmac.compare_digest(value, cookie):
            return None
        async with self._sessionmaker() as session:
            row = await session.get(FederationLogin, _digest(value))
        if row is None or row.expires_at <= self._clock.now() or (row.claims is not None) != parked:
            return None
        return row

    async def take(self, value: str) -> bool:
        """Use the value up; ``False`` when another request already did (a replayed callback or double submit)."""
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                delete(FederationLogin).where(FederationLogin.state_digest == _digest(value))
            )
            return rows_affected(result) == 1
