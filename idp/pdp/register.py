"""The processing register (UU PDP Art. 31): per OPD app, what personal data it receives and why.

What Gerbang knows: the claims, from the client's scopes (``idp.oauth.tokens.PROFILE_SCOPES``) and, for an
app behind the gateway (``session`` or ``bearer``), the identity assertion's claims. What Kominfo fills in:
purpose, legal basis (UU PDP Art. 20) and retention (``processing_records``). An app without a purpose is
flagged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import is_app, load_registered_apps
from idp.audit import append_audit
from idp.clients import HUB_CLIENT_IDS
from idp.oauth.tokens import PROFILE_SCOPES
from idp.storage.models import Client, ProcessingRecord

ASSERTION_CLAIMS = ("sub", "name", "opd", "roles", "acr")  # the default set (gateway.claims.DEFAULT_CLAIMS)
# UU PDP Art. 20 (2): the lawful bases for processing.
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interest", "public_task", "legitimate_interest")


def claims_of(scope: str, behind_gateway: bool, assertion: list[str] | None = None) -> list[str]:
    """``assertion``: the app's configured assertion claims (None: the default set)."""
    claims = ["sub"] if "openid" in scope.split() else []
    for name in scope.split():
        claims.extend(PROFILE_SCOPES.get(name, ()))
    if behind_gateway:
        claims.extend(ASSERTION_CLAIMS if assertion is None else ("sub", *assertion))
    return list(dict.fromkeys(claims))


async def load_register(session: AsyncSession) -> list[dict[str, Any]]:
    """One entry per registered app; ``flagged`` when Kominfo has not filled in its purpose."""
    records = {row.app: row for row in (await session.scalars(select(ProcessingRecord))).all()}
    scopes = dict(
        (
            await session.execute(select(Client.client_id, Client.scope).where(Client.client_id.not_in(HUB_CLIENT_IDS)))
        ).all()
    )
    entries = []
    for app in await load_registered_apps(session):
        record = records.get(app.slug)
        scope = scopes.get(app.client_id or "", "") or app.requested_scopes
        entries.append(
            {
                "app": app.slug,
                "name": app.name,
                "opd": app.opd_name,
                "status": app.status,
                "auth_mode": app.auth_mode,
                "client_id": app.client_id,
                "scope": scope,
                "claims": claims_of(scope, app.auth_mode in ("session", "bearer"), app.claims),
                "purpose": record.purpose if record else "",
                "legal_basis": record.legal_basis if record else "",
                "retention": record.retention if record else "",
                "updated_at": record.updated_at if record else None,
                "updated_by": record.updated_by if record else None,
                "flagged": not (record and record.purpose.strip()),
            }
        )
    return entries


async def save_record(
    session: AsyncSession, app_slug: str, *, purpose: str, legal_basis: str, retention: str, actor: str, now: int
) -> None:
    if not await is_app(session, app_slug):
        raise LookupError(app_slug)
    if legal_basis and legal_basis not in LEGAL_BASES:
        raise ValueError(f"legal basis must be one of {', '.join(LEGAL_BASES)}")
    record = await session.get(ProcessingRecord, app_slug)
    if record is None:
        record = ProcessingRecord(app=app_slug, updated_at=now, updated_by=actor)
        session.add(record)
    record.purpose, record.legal_basis, record.retention = purpose[:4000], legal_basis, retention[:200]
    record.updated_at, record.updated_by = now, actor[:200]
    await append_audit(
        session,
        actor=actor,
        action="pdp.register_update",
        target=f"app:{app_slug}",
        detail={"legal_basis": legal_basis, "retention": retention[:200], "purpose_set": bool(purpose.strip())},
        now=now,
    )
