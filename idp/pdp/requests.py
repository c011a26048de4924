"""Data subject requests (UU PDP Art. 32-44): every request lands in Kominfo's queue with a 3 x 24 h deadline.

A request made online is answered at once where Gerbang can (an export, a withdrawal) and recorded as done;
an erasure stays open until the grace period ends. A request taken at a service counter names the official as
``actor`` and ``channel="counter"``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_accessed_app_slugs, load_session_app_names
from idp.storage.models import Client, Consent, DataRequest

DEADLINE = 3 * 86_400
KINDS = ("export", "withdraw", "erase", "correct", "object", "restrict")
STATUSES = ("open", "done", "refused", "cancelled")
# The right each kind exercises in Law 27/2022 and the article that binds the controller to act. The law sets
# 3 x 24 hours for correction (Art. 30), access (Art. 32), stopping after a withdrawal (Art. 40) and delaying or
# restricting (Art. 41); for erasure (Art. 43) and objection (Art. 10) it names no period, and the city holds
# itself to the same 3 x 24 hours.
ARTICLES = {
    "export": "Pasal 7 & 32",
    "correct": "Pasal 6 & 30",
    "withdraw": "Pasal 9 & 40",
    "object": "Pasal 10",
    "restrict": "Pasal 11 & 41",
    "erase": "Pasal 8 & 43",
}
DEADLINES = {kind: DEADLINE for kind in KINDS}


def build_request(
    user_id: str,
    kind: str,
    now: int,
    *,
    actor: str,
    channel: str = "online",
    status: str = "open",
    note: str = "",
    target: str = "",
) -> DataRequest:
    if kind not in KINDS or status not in STATUSES or channel not in ("online", "counter"):
        raise ValueError(f"not a data request: {kind}/{status}/{channel}")
    return DataRequest(
        user_id=user_id,
        kind=kind,
        status=status,
        channel=channel,
        actor=actor[:200],
        note=note[:2000],
        target=target[:200],
        outcome="",
        created_at=now,
        due_at=now + DEADLINES[kind],
        done_at=now if status == "done" else None,
    )


def add_request(session: AsyncSession, user_id: str, kind: str, now: int, **fields: str) -> None:
    """Record one request in the caller's transaction (``build_request``'s fields)."""
    session.add(build_request(user_id, kind, now, **fields))


async def load_request(session: AsyncSession, request_id: int) -> DataRequest | None:
    return await session.get(DataRequest, request_id)


async def close_requests(session: AsyncSession, user_id: str, kind: str, status: str, now: int) -> None:
    """Close the open requests of one kind (an erasure done or cancelled)."""
    rows = await session.scalars(
        select(DataRequest).where(
            DataRequest.user_id == user_id, DataRequest.kind == kind, DataRequest.status == "open"
        )
    )
    for row in rows.all():
        row.status, row.done_at = status, now


async def list_requests(
    session: AsyncSession, *, status: str | None, limit: int = 50, offset: int = 0
) -> list[DataRequest]:
    query = select(DataRequest).order_by(DataRequest.due_at, DataRequest.id)
    if status:
        query = query.where(DataRequest.status == status)
    return list((await session.scalars(query.offset(offset).limit(limit))).all())


def request_json(row: DataRequest, now: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "kind": row.kind,
        "status": row.status,
        "channel": row.channel,
        "actor": row.actor,
        "note": row.note,
        "target": row.target,
        "outcome": row.outcome,
        "article": ARTICLES[row.kind] if row.kind in ARTICLES else "",
        "created_at": row.created_at,
        "due_at": row.due_at,
        "done_at": row.done_at,
        "overdue": row.status == "open" and row.kind != "erase" and row.due_at < now,
    }


async def load_user_requests(session: AsyncSession, user_id: str, limit: int = 50) -> list[DataRequest]:
    """The citizen's own requests, newest first (``/account/privacy`` shows their status)."""
    return list(
        (
            await session.scalars(
                select(DataRequest)
                .where(DataRequest.user_id == user_id)
                .order_by(DataRequest.created_at.desc(), DataRequest.id.desc())
                .limit(limit)
            )
        ).all()
    )


async def load_targets(session: AsyncSession, user_id: str) -> list[tuple[str, str]]:
    """What a withdrawal or objection can be about: the clients the person consented to and the gateway apps
    that received the identity (``("client:<id>" | "app:<slug>", name)``)."""
    clients = (
        await session.execute(
            select(Client.client_id, Client.name)
            .join(Consent, Consent.client_id == Client.client_id)
            .where(Consent.user_id == user_id)
            .order_by(Client.name)
        )
    ).all()
    apps = await load_session_app_names(session, await load_accessed_app_slugs(session, user_id))
    return [(f"client:{cid}", name) for cid, name in clients] + [(f"app:{slug}", name) for slug, name in apps]
