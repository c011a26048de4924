"""Data subject requests (UU PDP Art. 32-44): every request lands in Kominfo's queue with a 3 x 24 h deadline.

A request made online is answered at once where Gerbang can (an export, a withdrawal) and recorded as done;
an erasure stays open until the grace period ends. A request taken at a service counter names the official as
``actor`` and ``channel="counter"``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.storage.models import DataRequest

DEADLINE = 3 * 86_400
KINDS = ("export", "withdraw", "erase")
STATUSES = ("open", "done", "cancelled")


def build_request(user_id: str, kind: str, now: int, *, actor: str, channel: str = "online", status: str = "open",
                  note: str = "") -> DataRequest:
    if kind not in KINDS or status not in STATUSES or channel not in ("online", "counter"):
        raise ValueError(f"not a data request: {kind}/{status}/{channel}")
    return DataRequest(user_id=user_id, kind=kind, status=status, channel=channel, actor=actor[:200],
                       note=note[:2000], created_at=now, due_at=now + DEADLINE,
                       done_at=now if status == "done" else None)


async def close_requests(session: AsyncSession, user_id: str, kind: str, status: str, now: int) -> None:
    """Close the open requests of one kind (an erasure done or cancelled)."""
    rows = await session.scalars(select(DataRequest).where(DataRequest.user_id == user_id,
                                                           DataRequest.kind == kind, DataRequest.status == "open"))
    for row in rows.all():
        row.status, row.done_at = status, now


async def list_requests(session: AsyncSession, *, status: str | None, limit: int = 50, offset: int = 0
                        ) -> list[DataRequest]:
    query = select(DataRequest).order_by(DataRequest.due_at, DataRequest.id)
    if status:
        query = query.where(DataRequest.status == status)
    return list((await session.scalars(query.offset(offset).limit(limit))).all())


def request_json(row: DataRequest, now: int) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "kind": row.kind, "status": row.status, "channel": row.channel,
            "actor": row.actor, "note": row.note, "created_at": row.created_at, "due_at": row.due_at,
            "done_at": row.done_at, "overdue": row.status == "open" and row.kind != "erase" and row.due_at < now}
