"""The scheduled data-protection job: erase accounts past their grace period, purge what is past its retention.

Every instance runs the loop; a ``Lease`` lets one at a time do the work. Each run records what it did in the
audit chain as counts (``pdp.retention_purge``), never contents; a run that found nothing writes nothing.

    accounts asked to be deleted, ``erase_after`` passed      erased (``idp.pdp.deletion.erase_account``)
    gateway access rows older than the access-history retention   deleted
    security events older than ``security_event_retention_days``  deleted
    citizen accounts unused for ``inactive_account_retention_days`` (0: never)   erased
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.access_history import delete_accesses_before
from idp.audit import append_audit
from idp.clock import Clock
from idp.pdp.deletion import erase_account, load_due_erasures
from idp.pdp.lease import Lease
from idp.periodic import Periodic
from idp.storage.db import rows_affected
from idp.storage.models import BrowserSession, SecurityEvent, User

log = logging.getLogger("gerbang.pdp")
DAY = 86_400
LEASE_NAME = "pdp-retention"


@dataclass(frozen=True)
class Retention:
    access_history_days: int
    security_event_days: int
    inactive_account_days: int  # 0: accounts are not erased for being unused


@dataclass
class Purged:
    erased_accounts: int = 0
    inactive_accounts: int = 0
    gateway_accesses: int = 0
    security_events: int = 0
    ran: bool = field(default=True)

    def total(self) -> int:
        return self.erased_accounts + self.inactive_accounts + self.gateway_accesses + self.security_events


class PdpJobs:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        retention: Retention,
        *,
        every: float,
        holder: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._retention = retention
        self.lease = Lease(sessionmaker, LEASE_NAME, holder or uuid.uuid4().hex, ttl=max(300, int(every)))
        self.loop = Periodic("pdp-jobs", self.run_once, every, first_delay=0)

    async def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def run_once(self) -> Purged:
        """One run if this instance gets the lease (``ran`` False otherwise)."""
        if not await self.lease.take(self._clock.now()):
            return Purged(ran=False)
        try:
            return await self._purge()
        finally:
            await self.lease.release()

    async def _purge(self) -> Purged:
        now, keep, purged = self._clock.now(), self._retention, Purged()
        async with self._sessionmaker() as session:
            due = await load_due_erasures(session, now)
            inactive = await self._inactive_accounts(session, now) if keep.inactive_account_days else []
        for user_id, reason, counter in [
            *((u, "deletion_requested", "erased_accounts") for u in due),
            *((u, "inactive", "inactive_accounts") for u in inactive),
        ]:
            async with self._sessionmaker() as session, session.begin():  # one person per transaction
                if await erase_account(session, user_id, now, reason=reason):
                    setattr(purged, counter, getattr(purged, counter) + 1)
        async with self._sessionmaker() as session, session.begin():
            purged.gateway_accesses = await delete_accesses_before(session, now - keep.access_history_days * DAY)
            purged.security_events = rows_affected(
                await session.execute(
                    delete(SecurityEvent).where(SecurityEvent.at < now - keep.security_event_days * DAY)
                )
            )
            if purged.total():
                await append_audit(
                    session,
                    actor="gerbang",
                    action="pdp.retention_purge",
                    target="pdp:retention",
                    detail={
                        "erased_accounts": purged.erased_accounts,
                        "inactive_accounts": purged.inactive_accounts,
                        "gateway_accesses": purged.gateway_accesses,
                        "security_events": purged.security_events,
                    },
                    now=now,
                )
        if purged.total():
            log.info("pdp: purged %s", purged)
        return purged

    async def _inactive_accounts(self, session: AsyncSession, now: int) -> list[str]:
        cutoff = now - self._retention.inactive_account_days * DAY
        last_seen = (
            select(BrowserSession.user_id, func.max(BrowserSession.last_seen).label("seen"))
            .group_by(BrowserSession.user_id)
            .subquery()
        )
        query = (
            select(User.id)
            .outerjoin(last_seen, last_seen.c.user_id == User.id)
            .where(
                User.kind == "citizen",
                User.created_at < cutoff,
                func.coalesce(last_seen.c.seen, User.created_at) < cutoff,
            )
            .limit(100)
        )
        return list((await session.scalars(query)).all())
