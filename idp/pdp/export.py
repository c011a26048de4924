"""Everything Gerbang holds about one person, as one JSON document (UU PDP Art. 32-33: access and portability).

Profile and verified identifiers (the NIK whole: it is the person's own), memberships, consents with dates, the
session apps' agreements (the claims agreed to),
sessions, credentials (names and dates, never a hash, secret or public key), the whole access history (token
grants and the gateway's assertions), the security events and the data requests. Read in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_access_history, load_app_agreements
from idp.security_events import EventFilter, event_json, list_security_events
from idp.storage.models import (
    BrowserSession,
    Client,
    Consent,
    DataRequest,
    Membership,
    OpdUnit,
    Passkey,
    RecoveryCode,
    User,
)

FORMAT = "gerbang-data-export/1"
HISTORY_LIMIT = 100_000
EVENT_LIMIT = 100_000


async def build_export(session: AsyncSession, user_id: str, now: int, issuer: str) -> dict[str, Any]:
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(user_id)
    return {
        "format": FORMAT,
        "issuer": issuer,
        "generated_at": now,
        "profile": _profile(user),
        "memberships": await _memberships(session, user_id),
        "consents": await _consents(session, user_id),
        "app_agreements": await _app_agreements(session, user_id),
        "sessions": await _sessions(session, user_id),
        "credentials": await _credentials(session, user),
        "access_history": [
            entry.__dict__ for entry in await load_access_history(session, user_id, limit=HISTORY_LIMIT)
        ],
        "security_events": [
            event_json(event)
            for event in await list_security_events(session, EventFilter(user_id=user_id), limit=EVENT_LIMIT)
        ],
        "data_requests": await _requests(session, user_id),
    }


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_verified": user.email_verified,
        "nik": user.nik,
        "kind": user.kind,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "privacy_notice": {"version": user.privacy_version, "accepted_at": user.privacy_accepted_at},
    }


async def _memberships(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(OpdUnit.slug, OpdUnit.name, Membership.role)
        .join(Membership, Membership.opd_id == OpdUnit.id)
        .where(Membership.user_id == user_id)
        .order_by(OpdUnit.path, Membership.role)
    )
    return [{"opd": slug, "opd_name": name, "role": role} for slug, name, role in rows.all()]


async def _consents(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Consent, Client.name)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.granted_at)
    )
    return [
        {"client_id": consent.client_id, "app": name, "scope": consent.scope, "granted_at": consent.granted_at}
        for consent, name in rows.all()
    ]


async def _app_agreements(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    """What the person agreed each session app receives (``idp.app_agreement``)."""
    return [
        {"app": slug, "app_name": name, "claims": claims, "agreed_at": agreed_at}
        for slug, name, claims, agreed_at in await load_app_agreements(session, user_id)
    ]


async def _sessions(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(BrowserSession).where(BrowserSession.user_id == user_id).order_by(BrowserSession.created_at)
    )
    return [
        {
            "sid": row.sid,
            "created_at": row.created_at,
            "last_seen": row.last_seen,
            "ended_at": row.ended_at,
            "acr": row.acr,
            "amr": row.amr,
            "ip": row.ip,
            "user_agent": row.user_agent,
            "apps": row.clients,
        }
        for row in rows.all()
    ]


async def _credentials(session: AsyncSession, user: User) -> dict[str, Any]:
    passkeys = await session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at))
    unused = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return {
        "password": {"set": user.password_hash is not None, "changed_at": user.password_changed_at},
        "totp": {"enabled": user.totp_secret is not None},
        "recovery_codes_unused": unused or 0,
        "passkeys": [
            {"name": key.name, "created_at": key.created_at, "last_used_at": key.last_used_at} for key in passkeys.all()
        ],
    }


async def _requests(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(DataRequest).where(DataRequest.user_id == user_id).order_by(DataRequest.created_at)
    )
    return [
        {
            "kind": row.kind,
            "status": row.status,
            "channel": row.channel,
            "created_at": row.created_at,
            "due_at": row.due_at,
            "done_at": row.done_at,
        }
        for row in rows.all()
    ]
