"""Changing a password, and what must end with the old one: every browser session and token family.

OWASP ASVS V3.3.3 / NIST 800-63B §6.1.2.3: after a password change (or reset) nothing obtained with
the old password keeps working — sessions end and each grant is revoked with its refresh and access
tokens, so a thief holding a refresh token loses it too.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.oauth.store import revoke_family
from idp.provider import Provider
from idp.storage.models import BrowserSession, Grant, User


async def revoke_user_grants(
    session: AsyncSession, user_id: str, now: int, reason: str, client_id: str | None = None
) -> int:
    """Revoke every live token family of the user (of one client when ``client_id`` is given)."""
    query = select(Grant.id).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
    if client_id is not None:
        query = query.where(Grant.client_id == client_id)
    grant_ids = list((await session.scalars(query)).all())
    for grant_id in grant_ids:
        await revoke_family(session, grant_id, now, reason)
    return len(grant_ids)


def set_password(user: User, password_hash: str, now: int) -> None:
    """The new hash; ``password_changed_at`` also invalidates older sessions and reset links."""
    user.password_hash = password_hash
    user.password_changed_at = now
    user.updated_at = now


async def end_all_sessions(provider: Provider, user_id: str) -> int:
    """End every session of the user and tell the logout listeners (back-channel logout) about each."""
    now = provider.clock.now()
    async with provider.sessionmaker() as session:
        live = list(
            (
                await session.scalars(
                    select(BrowserSession).where(
                        BrowserSession.user_id == user_id,
                        BrowserSession.ended_at.is_(None),
                        BrowserSession.expires_at > now,
                    )
                )
            ).all()
        )
    await provider.sessions.end_all_for_user(user_id)
    for row in live:
        for listener in provider.logout_listeners:
            await listener(row)
    return len(live)
