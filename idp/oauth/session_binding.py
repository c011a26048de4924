"""Refresh tokens and the browser session that issued them (OIDC Core §11, RP-Initiated Logout 1.0 §5).

A refresh token without ``offline_access`` lives no longer than the sign-in it came from: it dies when that
session ends (logout at a relying party, "sign out everywhere", one session ended from ``/account``), expires
or falls idle. A refresh keeps its session alive (as any use of the session does), so an app in active use is
not signed out under the citizen. Any refresh token also dies after ``refresh_token_idle_ttl`` seconds unused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.oauth.store import revoke_family
from idp.sessions import is_session_live
from idp.storage.models import BrowserSession, Grant, RefreshToken

OFFLINE_ACCESS = "offline_access"


@dataclass(frozen=True)
class RefreshLifetimes:
    session_idle: int  # settings.session_idle_ttl
    refresh_idle: int  # settings.refresh_token_idle_ttl


def is_bound_to_session(grant: Grant) -> bool:
    return grant.session_id is not None and OFFLINE_ACCESS not in grant.scope.split()


def does_refresh_stand(
    grant: Grant, token: RefreshToken, browser_session: BrowserSession | None, now: int, lifetimes: RefreshLifetimes
) -> bool:
    """Not rotated, revoked or expired; used recently enough; and its session still live when bound to one."""
    if token.rotated_at is not None or grant.revoked_at is not None or token.expires_at <= now:
        return False
    if now - token.issued_at > lifetimes.refresh_idle:
        return False
    return not is_bound_to_session(grant) or (
        browser_session is not None and is_session_live(browser_session, now, lifetimes.session_idle)
    )


async def load_grant_session(session: AsyncSession, grant: Grant) -> BrowserSession | None:
    if grant.session_id is None:
        return None
    return await session.scalar(select(BrowserSession).where(BrowserSession.sid == grant.session_id))


async def revoke_session_grants(session: AsyncSession, sid: str, now: int) -> int:
    """The session ended: revoke every token family it issued that is not ``offline_access``."""
    grants = (await session.scalars(select(Grant).where(Grant.session_id == sid, Grant.revoked_at.is_(None)))).all()
    bound = [grant.id for grant in grants if is_bound_to_session(grant)]
    for grant_id in bound:
        await revoke_family(session, grant_id, now, "session_ended")
    return len(bound)
