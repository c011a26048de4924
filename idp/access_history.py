"""Riwayat akses: which OPD app received the citizen's identity, and when.

Two sources, merged newest first:

- **token**: token issuance. Every grant (an authorization code redeemed by an app) is one entry with
  the app, the OPD that runs it, and what it was given (the scope). The hub's own clients (the gateway
  signing in for ``session`` apps, the console) are left out: the gateway's entries name the apps.
- **gateway**: identity assertions. The gateway records (user, app, OPD, time) when it forwards a
  request with ``X-Gerbang-Assertion`` (``gateway.access_recorder``: one row per user and app per
  dedupe window, written in batches to ``gateway_accesses``) and the identity claims the assertion
  carried (``claims``: names only; ``None`` for rows written before claims were recorded, shown as "not
  recorded"). Names are looked up now; an app or OPD removed since shows its slug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from idp.clients import HUB_CLIENT_IDS
from idp.storage.gateway_models import App, GatewayAccess
from idp.storage.models import Client, Grant, OpdUnit

LIMIT = 50

Via = Literal["token", "gateway"]


@dataclass(frozen=True)
class AccessEntry:
    at: int
    app: str
    opd: str | None
    scope: str  # what a token carried; empty for a gateway assertion (see ``claims``)
    revoked: bool
    via: Via = "token"
    claims: tuple[str, ...] | None = None  # the claims a gateway assertion carried; None: not recorded


async def load_access_history(session: AsyncSession, user_id: str, limit: int = LIMIT) -> list[AccessEntry]:
    entries = [
        *await load_token_accesses(session, user_id, limit),
        *await load_gateway_accesses(session, user_id, limit),
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


async def load_token_accesses(session: AsyncSession, user_id: str, limit: int) -> list[AccessEntry]:
    query = (
        select(Grant.created_at, Client.name, OpdUnit.name, Grant.scope, Grant.revoked_at)
        .join(Client, Client.client_id == Grant.client_id)
        .outerjoin(OpdUnit, OpdUnit.id == Client.opd_id)
        .where(Grant.user_id == user_id, Grant.client_id.not_in(HUB_CLIENT_IDS))
        .order_by(Grant.created_at.desc())
        .limit(limit)
    )
    return [
        AccessEntry(at, app, opd, scope, revoked is not None, "token")
        for at, app, opd, scope, revoked in (await session.execute(query)).all()
    ]


async def load_gateway_accesses(session: AsyncSession, user_id: str, limit: int) -> list[AccessEntry]:
    unit = aliased(OpdUnit)
    query = (
        select(
            GatewayAccess.at,
            func.coalesce(App.name, GatewayAccess.app),
            func.coalesce(unit.name, GatewayAccess.opd),
            GatewayAccess.claims,
        )
        .outerjoin(App, App.slug == GatewayAccess.app)
        .outerjoin(unit, unit.slug == GatewayAccess.opd)
        .where(GatewayAccess.user_id == user_id)
        .order_by(GatewayAccess.at.desc(), GatewayAccess.id.desc())
        .limit(limit)
    )
    return [
        AccessEntry(at, app, opd, "", False, "gateway", None if claims is None else tuple(claims.split()))
        for at, app, opd, claims in (await session.execute(query)).all()
    ]
