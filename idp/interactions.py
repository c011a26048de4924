"""Authorization requests parked while the user signs in or consents (node-oidc-provider's "interactions").

The id travels in the URL and in an HttpOnly cookie; resuming needs both, so a link sent to
someone else cannot be completed in their browser (no login CSRF / session swapping).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import Clock
from idp.storage.db import Write, single_statements
from idp.storage.models import Interaction

COOKIE = "gerbang_interaction"
TTL = 15 * 60
INTERACTIONS = cast(Table, Interaction.__table__)
INSERT = insert(INTERACTIONS)
# The writes for a caller's write (idp.storage.db.Write), built once: the request passes only the values.
BY_DIGEST = INTERACTIONS.c.id_digest == bindparam("interaction__digest")
RECORD_LOGIN = update(INTERACTIONS).where(BY_DIGEST).values(login_sid=bindparam("interaction__login_sid"))
RECORD_CONSENT = update(INTERACTIONS).where(BY_DIGEST).values(consent_given=bindparam("interaction__consent"))
RECORD_BOTH = (
    update(INTERACTIONS)
    .where(BY_DIGEST)
    .values(login_sid=bindparam("interaction__login_sid"), consent_given=bindparam("interaction__consent"))
)
FINISH = delete(INTERACTIONS).where(INTERACTIONS.c.id_digest == bindparam("finished__digest"))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class InteractionStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def create(self, client_id: str, params: list[tuple[str, str]]) -> str:
        value = secrets.token_urlsafe(24)
        now = self._clock.now()
        row = {
            "id_digest": _digest(value),
            "client_id": client_id,
            "params": [list(p) for p in params],
            "created_at": now,
            "expires_at": now + TTL,
        }
        async with self._sessionmaker() as session:  # one INSERT, atomic on its own: no BEGIN/COMMIT round trips
            await (await single_statements(session)).execute(INSERT, row)
        return value

    async def load(
        self, value: str | None, cookie: str | None, session: AsyncSession | None = None
    ) -> Interaction | None:
        if not value or not cookie or len(value) > 64 or not hmac.compare_digest(value, cookie):
            return None
        if session is not None:
            row = await session.get(Interaction, _digest(value))
        else:
            async with self._sessionmaker() as own:
                row = await own.get(Interaction, _digest(value))
        if row is None or row.expires_at <= self._clock.now():
            return None
        return row

    async def update(self, value: str, *, consent_given: bool) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(*self.updating(value, consent_given=consent_given))

    def updating(self, value: str, *, login_sid: str | None = None, consent_given: bool | None = None) -> Write:
        """The UPDATE that records a sign-in (``login_sid``) or a consent on the parked request, for a caller's
        write."""
        assert login_sid is not None or consent_given is not None, "nothing to record"
        values: dict[str, object] = {"interaction__digest": _digest(value)}
        if login_sid is not None:
            values["interaction__login_sid"] = login_sid
        if consent_given is not None:
            values["interaction__consent"] = consent_given
        statement = (
            RECORD_BOTH
            if login_sid is not None and consent_given is not None
            else RECORD_LOGIN
            if login_sid is not None
            else RECORD_CONSENT
        )
        return statement, values

    async def finish(self, value: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(*self.finishing(value))

    def finishing(self, value: str) -> Write:
        """The DELETE that ends the parked request, for a caller's write."""
        return FINISH, {"finished__digest": _digest(value)}
