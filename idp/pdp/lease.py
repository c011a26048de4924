"""One instance at a time: a lease row in ``job_leases`` (works alike on SQLite and PostgreSQL, no Redis needed).

``take`` succeeds when the lease is free (expired) or already ours, by one conditional UPDATE; a missing row is
inserted, and of two instances inserting at once the loser's primary key clash means "someone else has it".
A holder that dies releases nothing: its lease runs out after ``ttl`` seconds.
"""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.storage.db import rows_affected
from idp.storage.models import JobLease


class Lease:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], name: str, holder: str, ttl: int) -> None:
        self._sessionmaker = sessionmaker
        self.name = name
        self.holder = holder
        self._ttl = ttl

    async def take(self, now: int) -> bool:
        async with self._sessionmaker() as session, session.begin():
            taken = await session.execute(
                update(JobLease)
                .where(JobLease.name == self.name, or_(JobLease.until <= now, JobLease.holder == self.holder))
                .values(holder=self.holder, until=now + self._ttl)
            )
            if rows_affected(taken):
                return True
            if await session.get(JobLease, self.name) is not None:
                return False
        try:
            async with self._sessionmaker() as session, session.begin():
                session.add(JobLease(name=self.name, holder=self.holder, until=now + self._ttl))
        except IntegrityError:
            return False
        return True

    async def release(self) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(JobLease).where(JobLease.name == self.name, JobLease.holder == self.holder).values(until=0)
            )
