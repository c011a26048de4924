"""Deleting an account (UU PDP Art. 43): disabled at once, erased after Kominfo's grace period.

``request_deletion`` disables the account, revokes every token, ends every session (the apps are told by
back-channel logout) and sets ``erase_after``; signing in with the password before then cancels
(``cancel_deletion``). ``erase_account`` (run by ``idp.pdp.jobs``) removes the person: the ``users`` row and
everything keyed to it (consents, sessions, tokens, credentials, memberships); security events lose their IP
address and detail. What remains names the account only by its random id, which nothing maps back to a
person any more: the audit chain (whose entries from these flows carry no name, email or NIK, so it still
verifies), the gateway's access history and the security events' kinds and times.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import end_gateway_sessions
from idp.audit import append_audit
from idp.credentials import end_all_sessions, revoke_user_grants
from idp.pdp.requests import build_request, close_requests
from idp.provider import Provider
from idp.security_events import build_event
from idp.storage.models import Consent, SecurityEvent, User, WebAuthnChallenge

DAY = 86_400


async def request_deletion(
    provider: Provider, user_id: str, *, actor: str, channel: str = "online", record: bool = True
) -> int:
    """Disable the account now; returns when it will be erased. ``record=False``: the caller already holds the
    request (a counter request a staff member fulfils) and keeps it open until the erasure closes it."""
    now = provider.clock.now()
    erase_after = now + provider.settings.account_deletion_grace_days * DAY
    async with provider.sessionmaker() as session, session.begin():
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            raise LookupError(user_id)
        clients = list((await session.scalars(select(Consent.client_id).where(Consent.user_id == user_id))).all())
        user.disabled, user.deletion_requested_at, user.erase_after, user.updated_at = True, now, erase_after, now
        families = await revoke_user_grants(session, user_id, now, "account_deleted")
        await end_gateway_sessions(session, user_id, now)
        if record:
            session.add(build_request(user_id, "erase", now, actor=actor, channel=channel))
        session.add(
            build_event(
                "account.deletion",
                now,
                user_id=user_id,
                reason="requested",
                detail={"erase_after": erase_after, "token_families": families},
            )
        )
        await append_audit(
            session,
            actor=actor,
            action="pdp.account_delete",
            target=f"user:{user_id}",
            detail={"channel": channel, "erase_after": erase_after, "token_families": families},
            now=now,
        )
    await end_all_sessions(provider, user_id)  # back-channel logout to the clients of each session
    for client_id in clients:  # and the apps the person consented to, even without a live session
        await provider.backchannel.notify_client(client_id, user_id, [])
    return erase_after


def is_pending_deletion(user: User, now: int) -> bool:
    return user.deletion_requested_at is not None and user.erase_after is not None and now < user.erase_after


async def cancel_deletion(provider: Provider, user_id: str) -> None:
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        user = await session.get(User, user_id, with_for_update=True)
        if user is None or not is_pending_deletion(user, now):
            return
        user.disabled, user.deletion_requested_at, user.erase_after, user.updated_at = False, None, None, now
        await close_requests(session, user_id, "erase", "cancelled", now)
        session.add(build_event("account.deletion", now, user_id=user_id, reason="cancelled"))
        await append_audit(
            session,
            actor=f"user:{user_id}",
            action="pdp.account_delete_cancel",
            target=f"user:{user_id}",
            detail={},
            now=now,
        )


async def erase_account(session: AsyncSession, user_id: str, now: int, *, reason: str) -> bool:
    """Erase one person inside the caller's transaction (the job's); False when already gone."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        return False
    # Rows without a foreign key to users: cleared by hand. The rest go with the user (ON DELETE CASCADE).
    await session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.user_id == user_id))
    await session.execute(update(SecurityEvent).where(SecurityEvent.user_id == user_id).values(ip=None, detail={}))
    await session.delete(user)
    await close_requests(session, user_id, "erase", "done", now)
    session.add(build_event("account.deletion", now, user_id=user_id, reason="erased"))
    await append_audit(
        session,
        actor="gerbang",
        action="pdp.account_erased",
        target=f"user:{user_id}",
        detail={"reason": reason},
        now=now,
    )
    return True


async def load_due_erasures(session: AsyncSession, now: int, limit: int = 100) -> list[str]:
    query = (
        select(User.id)
        .where(User.erase_after.is_not(None), User.erase_after <= now, User.deletion_requested_at.is_not(None))
        .order_by(User.erase_after)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
