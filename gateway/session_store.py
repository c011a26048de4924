"""The gateway's sessions for ``session`` apps (``gateway_sessions``): made at the login callback, read on every
request to the app, ended by the app's logout or with the provider session they were made from. A row is keyed
by the SHA-256 of the cookie value, so a copy of the table holds no usable cookie. The console's sessions
(``console_sessions``) are kept the same way."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.gateway_models import App, ConsoleSession, GatewaySession
from idp.storage.models import AppAgreement


def session_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def load_gateway_session(session: AsyncSession, value: str) -> GatewaySession | None:
    """The row the cookie ``value`` names, ended or not."""
    return await session.get(GatewaySession, session_digest(value))


async def load_agreed_claims(session: AsyncSession, app: str, user_id: str) -> list[str]:
    """The claims the person agreed ``app`` may receive (``idp.app_agreement``); none when she never agreed."""
    agreed = await session.scalar(
        select(AppAgreement.claims)
        .join(App, App.id == AppAgreement.app_id)
        .where(App.slug == app, AppAgreement.user_id == user_id)
    )
    return list(agreed or ())


def add_gateway_session(
    session: AsyncSession, value: str, claims: dict[str, Any], app: str, now: int, ttl: int, agreed: list[str]
) -> None:
    """A session on ``app``'s host from the provider's verified ID token ``claims`` (``_raw``: the token); its
    assertions never carry more than ``agreed``."""
    session.add(
        GatewaySession(
            id_digest=session_digest(value),
            idp_sid=claims.get("sid"),
            user_id=claims["sub"],
            app=app,
            acr=str(claims.get("acr", "1")),
            amr=list(claims.get("amr", [])),
            id_token=claims["_raw"],
            claims=agreed,
            created_at=now,
            expires_at=now + ttl,
        )
    )


async def end_gateway_session(session: AsyncSession, value: str, now: int) -> str | None:
    """End the session the cookie ``value`` names; its ID token (the logout hint), or None if it was not open."""
    row = await load_gateway_session(session, value)
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = now
    return row.id_token


async def end_sessions_made_from(session: AsyncSession, idp_sid: str, now: int) -> None:
    """End the open sessions (on every app host) made from the provider's session ``idp_sid``."""
    await session.execute(
        update(GatewaySession)
        .where(GatewaySession.idp_sid == idp_sid, GatewaySession.ended_at.is_(None))
        .values(ended_at=now)
    )


async def load_console_session(session: AsyncSession, digest: str) -> ConsoleSession | None:
    """The console session keyed ``digest`` (``session_digest`` of its cookie), ended or not."""
    return await session.get(ConsoleSession, digest)


def add_console_session(
    session: AsyncSession, digest: str, user_id: str, auth_time: int, now: int, expires_at: int
) -> None:
    session.add(
        ConsoleSession(id_digest=digest, user_id=user_id, auth_time=auth_time, created_at=now, expires_at=expires_at)
    )


async def end_console_session(session: AsyncSession, digest: str, now: int) -> None:
    row = await load_console_session(session, digest)
    if row is not None and row.ended_at is None:
        row.ended_at = now
