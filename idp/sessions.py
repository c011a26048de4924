"""The provider's server-side browser sessions (single sign-on).

The cookie holds 256 random bits; storage keeps only their SHA-256, so a database leak yields no
usable session. Every login makes a new id (no fixation); logout deletes the row's validity.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from idp.clock import Clock
from idp.storage.db import Write, column_values, inserting, rows_affected
from idp.storage.models import BrowserSession, User

# A session's ``last_seen`` is written at most once per this many seconds (its idle limit is minutes to hours):
# a page view or a refresh within it reads the session but does not write it.
TOUCH_INTERVAL = 60

SESSIONS = cast(Table, BrowserSession.__table__)
# The sign-in's writes, built once (idp.storage.db.Write): the request passes only the values.
END_BY_DIGEST = (
    update(SESSIONS)
    .where(SESSIONS.c.id_digest == bindparam("ended__digest"), SESSIONS.c.ended_at.is_(None))
    .values(ended_at=bindparam("ended__at"))
)
# The session, its person and her memberships (the login policy's subject) in one round trip, built once.
LOAD_BY_DIGEST = (
    select(BrowserSession, User)
    .join(User, User.id == BrowserSession.user_id)
    .where(BrowserSession.id_digest == bindparam("session__digest"))
    .options(joinedload(User.memberships))
)
ADD_CLIENT = (
    update(SESSIONS)
    .where(SESSIONS.c.sid == bindparam("clients__sid"))
    .values(clients=bindparam("clients__list", type_=SESSIONS.c.clients.type))
)


def insert_session(row: BrowserSession) -> Write:
    """The INSERT of a new session's row (a plain statement: no unit-of-work flush)."""
    return inserting(SESSIONS, column_values(row), "session__")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_session_live(row: BrowserSession, now: int, idle_ttl: int) -> bool:
    """Not ended, not past its lifetime, not idle (the account's own state is checked by ``SessionStore.load``)."""
    return row.ended_at is None and row.expires_at > now and row.last_seen + idle_ttl > now


async def load_user_session(session: AsyncSession, user_id: str, sid: str) -> BrowserSession | None:
    """The session ``sid`` if it is the user's (ended or not)."""
    return await session.scalar(
        select(BrowserSession).where(BrowserSession.sid == sid, BrowserSession.user_id == user_id)
    )


async def load_live_sessions(session: AsyncSession, user_id: str, now: int, idle_ttl: int) -> list[BrowserSession]:
    """The user's sessions that are open, unexpired and not idle, most recently seen first."""
    query = (
        select(BrowserSession)
        .where(
            BrowserSession.user_id == user_id,
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > now,
            BrowserSession.last_seen > now - idle_ttl,
        )
        .order_by(BrowserSession.last_seen.desc())
    )
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class ActiveSession:
    row: BrowserSession
    user: User


class SessionStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, ttl: int, idle_ttl: int) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._ttl = ttl
        self._idle_ttl = idle_ttl

    def build(
        self, user: User, *, acr: str, amr: list[str], ip: str | None, user_agent: str | None
    ) -> tuple[str, BrowserSession]:
        """A new session: the cookie's value and the row to write (``insert_session``), in the sign-in's one write."""
        now = self._clock.now()
        value = secrets.token_urlsafe(32)
        row = BrowserSession(
            id_digest=_digest(value),
            sid=str(uuid.uuid4()),
            user_id=user.id,
            auth_time=now,
            acr=acr,
            amr=amr,
            created_at=now,
            last_seen=now,
            expires_at=now + self._ttl,
            ip=ip,
            user_agent=(user_agent or "")[:300],
            clients=[],
        )
        return value, row

    async def load(self, cookie_value: str | None, session: AsyncSession | None = None) -> ActiveSession | None:
        """The live session of a cookie. With ``session``, in the caller's transaction (which must commit to keep
        the once-a-minute ``last_seen`` touch)."""
        if not cookie_value or len(cookie_value) > 100:
            return None
        if session is not None:
            return await self._load_in(session, cookie_value)
        async with self._sessionmaker() as own, own.begin():
            return await self._load_in(own, cookie_value)

    async def _load_in(self, session: AsyncSession, cookie_value: str) -> ActiveSession | None:
        now = self._clock.now()
        found = (await session.execute(LOAD_BY_DIGEST, {"session__digest": _digest(cookie_value)})).unique().first()
        if found is None:
            return None
        row, user = found
        if not is_session_live(row, now, self._idle_ttl):
            return None
        if user.disabled or user.password_changed_at > row.auth_time:
            return None
        if now - row.last_seen >= TOUCH_INTERVAL:  # bound write amplification
            row.last_seen = now
        return ActiveSession(row, user)

    def adding_client(self, row: BrowserSession, client_id: str) -> Write | None:
        """Remember that the session ``row`` (as this request read it) signed in to ``client_id`` (for logout):
        nothing to write when it already had; else one UPDATE, for the caller's write."""
        if client_id in row.clients:
            return None
        return ADD_CLIENT, {"clients__sid": row.sid, "clients__list": [*row.clients, client_id]}

    def ending_by_cookie(self, cookie_value: str | None) -> Write | None:
        """End the session a cookie names, if it is still open (a new sign-in replaces it: no fixation)."""
        if not cookie_value or len(cookie_value) > 100:
            return None
        return END_BY_DIGEST, {"ended__digest": _digest(cookie_value), "ended__at": self._clock.now()}

    async def end(self, sid: str) -> BrowserSession | None:
        async with self._sessionmaker() as session, session.begin():
            row = await session.scalar(select(BrowserSession).where(BrowserSession.sid == sid))
            if row is not None and row.ended_at is None:
                row.ended_at = self._clock.now()
            return row

    async def end_all_for_user(self, user_id: str) -> int:
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                update(BrowserSession)
                .where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
                .values(ended_at=self._clock.now())
            )
            return rows_affected(result)
