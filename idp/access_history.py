"""Riwayat akses: which OPD app received the citizen's identity, and when.

Read from token issuance: every grant (an authorization code redeemed by an app) is one entry with the
app, the OPD that runs it, and what it was given. The gateway's identity assertions can join this list
when the gateway records them (its own table); this module is where they would be merged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.models import Client, Grant, OpdUnit

LIMIT = 50


@dataclass(frozen=True)
class AccessEntry:
    at: int
    app: str
    opd: str | None
    scope: str
    revoked: bool


async def load_access_history(session: AsyncSession, user_id: str, limit: int = LIMIT) -> list[AccessEntry]:
    query = (select(Grant.created_at, Client.name, OpdUnit.name, Grant.scope, Grant.revoked_at)
             .join(Client, Client.client_id == Grant.client_id)
             .outerjoin(OpdUnit, OpdUnit.id == Client.opd_id)
             .where(Grant.user_id == user_id)
             .order_by(Grant.created_at.desc()).limit(limit))
    return [AccessEntry(at, app, opd, scope, revoked is not None)
            for at, app, opd, scope, revoked in (await session.execute(query)).all()]
