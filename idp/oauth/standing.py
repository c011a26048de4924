"""Whether a hub token still stands beyond its signature: the one check UserInfo and introspection share.

A valid signature is not enough (RFC 7662 §2.2, OIDC Core §5.3.3): the token's jti must not be revoked, the
client it was issued to must still be active (a suspended client is suspended everywhere, as at the gateway),
and the person it speaks for must still have a usable account.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from idp.oauth.store import ClientCache, is_jti_revoked
from idp.oauth.verify import TokenInvalid
from idp.storage.models import User


async def is_client_active(clients: ClientCache, client_id: Any) -> bool:
    if not isinstance(client_id, str) or not client_id:
        return False
    client = (await clients.get_many({client_id})).get(client_id)
    return client is not None and client.status == "active"


async def is_user_active(session: AsyncSession, user_id: str | None) -> bool:
    """A grant for no user (client_credentials) stands on the client alone."""
    if user_id is None:
        return True
    user = await session.get(User, user_id)
    return user is not None and not user.disabled


async def check_access_token_stands(session: AsyncSession, clients: ClientCache, claims: dict[str, Any]) -> User | None:
    """Raises ``TokenInvalid`` when a verified access token no longer stands; else the user it speaks for
    (``None`` for a client's own client_credentials token)."""
    if await is_jti_revoked(session, str(claims.get("jti"))):
        raise TokenInvalid("revoked")
    if not await is_client_active(clients, claims.get("client_id")):
        raise TokenInvalid("client not active")
    if claims.get("sub") == claims.get("client_id"):
        return None
    if not await is_user_active(session, str(claims.get("sub"))):
        raise TokenInvalid("account not available")
    return await session.get(User, str(claims.get("sub")))
