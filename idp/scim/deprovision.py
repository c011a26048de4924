"""Deprovisioning is immediate and everywhere (the staffing system said the person left or moved):
every token family is revoked (refresh and access tokens: the gateway's revocation list refuses them), every
hub session ends — which sends OIDC back-channel logout to each relying party and ends the gateway's own
sessions through the provider's logout listeners — and gateway sessions not tied to a hub session end too."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import end_gateway_sessions
from idp.credentials import end_all_sessions, revoke_user_grants
from idp.provider import Provider


async def revoke_in_transaction(session: AsyncSession, user_id: str, now: int, reason: str) -> int:
    """The token side, in the caller's transaction (so the change and the revocation commit together)."""
    families = await revoke_user_grants(session, user_id, now, reason)
    await end_gateway_sessions(session, user_id, now)
    return families


async def end_sessions_after_commit(provider: Provider, user_id: str) -> int:
    """The session side, after the commit: sessions end and every listener (back-channel, gateway) is told."""
    return await end_all_sessions(provider, user_id)
