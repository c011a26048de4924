"""The tamper-evident audit log: a hash chain of entries with signed checkpoints.

Each entry links to the one before it::

    hash = SHA-256(prev_hash || canonical_json({seq, at, actor, action, target, detail}))

where ``prev_hash`` is the previous entry's hash as 64 lowercase hex characters (64 zeros for the
first entry) and canonical JSON has sorted keys, no whitespace, ``ensure_ascii=False``, UTF-8
(the same rules as RFC 8785 for the values we store: strings, integers, booleans, null, lists,
objects; floats are allowed but NaN and infinities are not).

An entry is written inside the caller's transaction, so the change it records and the entry
commit together or not at all. Appenders serialise on a lock taken before the tail is read:
``pg_advisory_xact_lock`` on PostgreSQL (held to the end of the caller's transaction; works on
an empty table, which ``SELECT ... FOR UPDATE`` on the last row does not), SQLite's single write
lock elsewhere. A hash chain is serial by nature, so one audited transaction at a time holds
the tail; audited changes are admin actions and security events, not the request hot path.

A checkpoint signs the head (seq, hash) with the hub key (JWS ``typ`` CHECKPOINT_TYP). It is
appended to the chain as an ``audit.checkpoint`` entry and stored in ``audit_checkpoints``,
so a chain recomputed from some entry on no longer matches a signature, and a chain cut short
ends before the newest checkpoint. The checkpoint is also logged, so a copy lives outside the
database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from sqlalchemy import delete, false, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from idp.keys import KeyRing
from idp.storage.models import AuditCheckpoint, AuditEntry

GENESIS_HASH = "0" * 64
CHECKPOINT_ACTION = "audit.checkpoint"
CHECKPOINT_TYP = "gerbang-audit-checkpoint+jwt"
CHECKPOINT_ACTOR = "gerbang"
# Fixed 64-bit key of the PostgreSQL advisory lock that serialises appenders
# (the first 8 bytes of SHA-256("gerbang.audit_log"), as a signed integer).
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"gerbang.audit_log").digest()[:8], "big", signed=True)

log = structlog.get_logger("gerbang.audit")


@dataclass(frozen=True)
class EntryFields:
    """What one chain entry holds, as read from the database or an export."""

    seq: int
    at: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def as_record(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class CheckpointPolicy:
    """How checkpoints are made: by which key ring, for which issuer, and every how many entries."""

    keys: KeyRing
    issuer: str
    every: int


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; raises ValueError for what JSON cannot carry exactly."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as exc:  # ValueError: NaN, infinities, lone surrogates
        raise ValueError(f"audit detail is not representable as canonical JSON: {exc}") from exc


def entry_hash(prev_hash: str, seq: int, at: int, actor: str, action: str, target: str, detail: dict[str, Any]) -> str:
    body = {"seq": seq, "at": at, "actor": actor, "action": action, "target": target, "detail": detail}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()


def is_entry_hash_valid(entry: EntryFields) -> bool:
    computed = entry_hash(entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.detail)
    return computed == entry.hash


async def append_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
    now: int,
    checkpoints: CheckpointPolicy | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction; a checkpoint follows when one is due.

    The chain stays locked until the caller's transaction ends: append as the last step before
    committing, not before slow work (password hashing, network calls).
    """
    if action == CHECKPOINT_ACTION:
        raise ValueError(f"'{CHECKPOINT_ACTION}' entries are written by write_checkpoint only")
    entry = await _append(session, actor=actor, action=action, target=target, detail=detail, now=now)
    if checkpoints is not None and await _is_checkpoint_due(session, entry.seq, checkpoints.every):
        await write_checkpoint(session, checkpoints.keys, issuer=checkpoints.issuer, now=now)
    return entry


async def checkpoint_if_due(session: AsyncSession, policy: CheckpointPolicy, now: int) -> AuditCheckpoint | None:
    """Write a checkpoint when ``policy.every`` entries have been appended since the last one
    (entries appended without a policy, by the CLI for instance, count too)."""
    await lock_chain(session)
    head_seq = await session.scalar(select(func.max(AuditEntry.seq))) or 0
    if not await _is_checkpoint_due(session, head_seq, policy.every):
        return None
    return await write_checkpoint(session, policy.keys, issuer=policy.issuer, now=now)


async def _is_checkpoint_due(session: AsyncSession, head_seq: int, every: int) -> bool:
    last = await session.scalar(select(func.max(AuditCheckpoint.seq)))
    # The previous checkpoint's own entry sits at last + 1 and does not count.
    since = head_seq - (last + 1 if last else 0)
    return since >= every


async def write_checkpoint(session: AsyncSession, keys: KeyRing, *, issuer: str, now: int) -> AuditCheckpoint | None:
    """Sign the current head; None when the chain is empty or its head is already a checkpoint."""
    await lock_chain(session)
    head = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash, AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    if head is None or head.action == CHECKPOINT_ACTION:
        return None
    token = keys.sign({"iss": issuer, "seq": head.seq, "hash": head.hash, "iat": now}, typ=CHECKPOINT_TYP)
    kid = jwt.get_unverified_header(token)["kid"]
    checkpoint = AuditCheckpoint(seq=head.seq, hash=head.hash, at=now, kid=kid, token=token)
    session.add(checkpoint)
    await _append(
        session,
        actor=CHECKPOINT_ACTOR,
        action=CHECKPOINT_ACTION,
        target=f"audit:{head.seq}",
        detail={"seq": head.seq, "hash": head.hash, "kid": kid, "token": token},
        now=now,
    )
    log.info("audit.checkpoint", seq=head.seq, hash=head.hash, kid=kid, token=token)
    return checkpoint


async def lock_chain(session: AsyncSession) -> None:
    """Take the appenders' lock for the rest of the caller's transaction (re-entrant within it)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # A write statement makes SQLite take its one write lock now, before the tail is read,
        # so no other connection can append between our read and our insert. It matches no row.
        await session.execute(delete(AuditEntry).where(false()))


async def _append(
    session: AsyncSession, *, actor: str, action: str, target: str, detail: dict[str, Any], now: int
) -> AuditEntry:
    # Store exactly what is hashed: tuples become lists, and a value JSON cannot carry fails here.
    stored_detail = json.loads(canonical_json(detail))
    if not isinstance(stored_detail, dict):
        raise ValueError("audit detail must be a JSON object")
    await lock_chain(session)
    tail = (
        await session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
    ).first()
    seq, prev_hash = (tail.seq + 1, tail.hash) if tail else (1, GENESIS_HASH)
    entry = AuditEntry(
        seq=seq,
        at=now,
        actor=actor,
        action=action,
        target=target,
        detail=stored_detail,
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, seq, now, actor, action, target, stored_detail),
    )
    session.add(entry)
    await session.flush()
    return entry
