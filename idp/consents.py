"""A person's consents: which scopes each client may receive, remembered per user and client."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.models import Client, Consent


async def record_consent(session: AsyncSession, user_id: str, client_id: str, scopes: list[str], now: int) -> None:
    """Add ``scopes`` to what the person consented to for the client (a first consent creates the row)."""
    consent = await session.scalar(select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id))
    granted = " ".join(sorted(set(scopes) | set(consent.scope.split() if consent else [])))
    if consent is None:
        session.add(Consent(user_id=user_id, client_id=client_id, scope=granted, granted_at=now))
    else:
        consent.scope, consent.granted_at = granted, now


async def load_consents(session: AsyncSession, user_id: str) -> list[tuple[Consent, str]]:
    """(consent, client name) of every client the person consented to, newest first."""
    query = (
        select(Consent, Client.name)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.granted_at.desc())
    )
    return [(consent, name) for consent, name in (await session.execute(query)).all()]
