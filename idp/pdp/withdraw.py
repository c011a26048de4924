"""Withdrawing consent for one app (UU PDP Art. 40): processing stops at once, not within 3 x 24 h.

In one transaction: the consent goes (the next sign-in to the app asks again), every token family the client
holds for the person is revoked with its access tokens (introspection answers inactive), the client leaves the
person's browser sessions, the gateway's sessions end when the client is a gateway app's, and the request, the
security event and the audit entry are written. After commit the app is told by back-channel logout.

``withdraw_app`` does the same for a ``session`` app behind the gateway (the gateway signs in for it with its
own first-party client, so there is no consent row or token of the app's own): the person's agreement for the
app (``idp.app_agreement``) goes and every gateway session of the person for that app ends. The gateway reads its sessions from the database on every request, so every instance
refuses the ended sessions at once; the person's next visit signs in again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from idp.access_history import end_gateway_sessions, load_app_id, load_app_slugs_of_client
from idp.app_agreement import forget_agreement
from idp.audit import append_audit
from idp.credentials import revoke_user_grants
from idp.pdp.requests import build_request
from idp.provider import Provider
from idp.security_events import build_event
from idp.storage.models import BrowserSession, Consent


@dataclass(frozen=True)
class Withdrawal:
    client_id: str
    token_families: int
    gateway_sessions: int
    notified: int


async def withdraw_consent(
    provider: Provider, user_id: str, client_id: str, *, actor: str, channel: str = "online", record: bool = True
) -> Withdrawal | None:
    """None when the person has neither a consent nor a live token for the client."""
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        consent = await session.scalar(
            select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
        )
        families = await revoke_user_grants(session, user_id, now, "consent_withdrawn", client_id)
        if consent is None and not families:
            return None
        if consent is not None:
            await session.delete(consent)
        sids = []
        for row in (
            await session.scalars(
                select(BrowserSession).where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
            )
        ).all():
            if client_id in row.clients:
                row.clients = [c for c in row.clients if c != client_id]
                sids.append(row.sid)
        gateway = 0
        if await load_app_slugs_of_client(session, client_id):
            gateway = await end_gateway_sessions(session, user_id, now)
        if record:  # a staff member fulfilling a counter request closes that request instead
            session.add(
                build_request(
                    user_id, "withdraw", now, actor=actor, channel=channel, status="done", target=f"client:{client_id}"
                )
            )
        session.add(
            build_event(
                "token.revoked",
                now,
                user_id=user_id,
                client_id=client_id,
                reason="consent_withdrawn",
                detail={"token_families": families},
            )
        )
        await append_audit(
            session,
            actor=actor,
            action="pdp.consent_withdraw",
            target=f"client:{client_id}",
            detail={"sub": user_id, "channel": channel, "token_families": families, "gateway_sessions": gateway},
            now=now,
        )
    notified = await provider.backchannel.notify_client(client_id, user_id, sids)
    return Withdrawal(client_id, families, gateway, notified)


async def withdraw_app(
    provider: Provider, user_id: str, app_slug: str, *, actor: str, channel: str = "online", record: bool = True
) -> int | None:
    """End the person's gateway sessions for one app; None when the app does not exist."""
    now = provider.clock.now()
    async with provider.sessionmaker() as session, session.begin():
        app_id = await load_app_id(session, app_slug)
        if app_id is None:
            return None
        await forget_agreement(session, user_id, app_id)  # the next sign-in to the app asks again
        ended = await end_gateway_sessions(session, user_id, now, app=app_slug)
        if record:
            session.add(
                build_request(
                    user_id, "withdraw", now, actor=actor, channel=channel, status="done", target=f"app:{app_slug}"
                )
            )
        session.add(
            build_event(
                "token.revoked",
                now,
                user_id=user_id,
                reason="consent_withdrawn",
                detail={"app": app_slug, "gateway_sessions": ended},
            )
        )
        await append_audit(
            session,
            actor=actor,
            action="pdp.consent_withdraw",
            target=f"app:{app_slug}",
            detail={"sub": user_id, "channel": channel, "gateway_sessions": ended},
            now=now,
        )
    return ended
