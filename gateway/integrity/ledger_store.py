"""The ledger's storage: appending a batch of receipts to the hash chain with a signed checkpoint, and reading it.

One transaction per batch: link each receipt to the one before, build the batch's Merkle tree, write one
checkpoint signing the new head and the tree head (``gateway.integrity.receipts``). The head is read under a
cluster-wide lock (``idp.storage.db.serialize``) so several workers and hosts extend one chain; a writer that
carries the head in memory skips that read, and the seq primary key refuses its batch if another writer
extended the chain meanwhile (``write_batch``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import jwt
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.integrity.ledger_verify import LedgerReport, LedgerVerifier
from gateway.integrity.merkle import build_tree, receipt_leaf
from gateway.integrity.receipts import (
    CHECKPOINT_TYP,
    GENESIS_HASH,
    ChainedReceipt,
    Checkpoint,
    ProvenReceipt,
    Receipt,
    build_checkpoint_claims,
    chain_hash,
    peek_checkpoint,
)
from idp.storage.db import serialize
from idp.storage.gateway_models import LedgerCheckpoint, LedgerReceipt

Sign = Callable[..., str]  # KeyRing.sign(claims, typ=...)
LOCK = "gerbang-ledger"
RECEIPTS = cast(Table, LedgerReceipt.__table__)
CHECKPOINTS = cast(Table, LedgerCheckpoint.__table__)


class StaleHead(Exception):
    """The batch was linked after a head that is no longer the chain's: another writer took its first seq."""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the next batch links: the last receipt's seq and chain hash, the tree head of the last batch."""

    seq: int
    hash: str
    root: str


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch linked after ``base``, its tree built and its checkpoint signed: the rows to insert."""

    base: ChainHead
    after: ChainHead
    rows: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    proven: list[ProvenReceipt]


async def read_head(session: AsyncSession) -> ChainHead:
    """The chain's head under the cluster-wide lock (held until the transaction ends)."""
    await serialize(session, LOCK, "ledger_receipts")
    head = (
        await session.execute(select(LedgerReceipt.seq, LedgerReceipt.hash).order_by(LedgerReceipt.seq.desc()).limit(1))
    ).first()
    seq, prev = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)
    last_token = await session.scalar(select(LedgerCheckpoint.token).order_by(LedgerCheckpoint.seq.desc()).limit(1))
    prev_root = (peek_checkpoint(last_token).root if last_token is not None else None) or GENESIS_HASH
    return ChainHead(seq, prev, prev_root)


def prepare_batch(
    head: ChainHead, receipts: Sequence[Receipt], sign: Sign, now: int, issuer: str = ""
) -> PreparedBatch:
    """Link ``receipts`` after ``head``, build the batch's Merkle tree and sign one checkpoint over it (the new
    chain head, the tree head and the tree head before it). No I/O: the writer prepares a batch while the one
    before commits."""
    seq, prev = head.seq, head.hash
    chained = []
    for receipt in receipts:
        seq += 1
        link = ChainedReceipt(receipt, seq, prev, chain_hash(prev, receipt))
        chained.append(link)
        prev = link.hash
    root, paths = build_tree([receipt_leaf(link.seq, link.hash) for link in chained])
    checkpoint = Checkpoint(seq, prev, head.seq + 1, root.hex(), head.root)
    token = sign(build_checkpoint_claims(checkpoint, issuer, now), typ=CHECKPOINT_TYP)
    row = {"seq": seq, "hash": prev, "at": now, "kid": str(jwt.get_unverified_header(token)["kid"]), "token": token}
    return PreparedBatch(
        head,
        ChainHead(seq, prev, root.hex()),
        [row_values(link) for link in chained],
        row,
        [ProvenReceipt(link, token, path) for link, path in zip(chained, paths, strict=True)],
    )


async def write_batch(session: AsyncSession, batch: PreparedBatch) -> None:
    """Insert the batch's receipts and checkpoint (Core executemany, no ORM object per receipt: the ledger's hot
    path); the caller commits. Linked after a head that is no longer the chain's (another writer extended it),
    the first receipt's seq is taken: ``StaleHead``, nothing written."""
    connection = await session.connection()
    try:
        await connection.execute(insert(RECEIPTS), batch.rows)
    except IntegrityError:
        raise StaleHead() from None
    await connection.execute(insert(CHECKPOINTS), batch.checkpoint)


async def append_receipts(
    session: AsyncSession, receipts: Sequence[Receipt], sign: Sign, now: int, issuer: str = ""
) -> list[ProvenReceipt]:
    """Read the head under the lock, link ``receipts`` after it and write them with their checkpoint; the caller
    commits."""
    batch = prepare_batch(await read_head(session), receipts, sign, now, issuer)
    await write_batch(session, batch)
    return batch.proven


class BatchProver:
    """Proofs for stored receipts (``GET /ledger/receipts/{id}``, ``gerbang ledger export``): each batch's tree is
    rebuilt from its stored chain hashes, once for receipts asked for in seq order. A receipt whose batch has no tree head (a checkpoint written before
    batches had Merkle trees) or no checkpoint has no proof (``None``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._batch: tuple[str, Checkpoint, list[list[bytes]]] | None = None

    async def prove(self, link: ChainedReceipt) -> ProvenReceipt | None:
        found = self._batch
        if found is None or not _covers(found[1], link.seq):
            found = self._batch = await self._load(link.seq)
        if found is None:
            return None
        token, checkpoint, paths = found
        assert checkpoint.first_seq is not None
        return ProvenReceipt(link, token, paths[link.seq - checkpoint.first_seq])

    async def _load(self, seq: int) -> tuple[str, Checkpoint, list[list[bytes]]] | None:
        token = await self._session.scalar(
            select(LedgerCheckpoint.token).where(LedgerCheckpoint.seq >= seq).order_by(LedgerCheckpoint.seq).limit(1)
        )
        if token is None:
            return None
        try:
            checkpoint = peek_checkpoint(token)
        except (ValueError, jwt.PyJWTError):
            return None  # a damaged checkpoint row proves nothing (``gerbang ledger verify`` reports it)
        if checkpoint.first_seq is None or not _covers(checkpoint, seq):
            return None
        rows = await self._session.execute(
            select(LedgerReceipt.seq, LedgerReceipt.hash)
            .where(LedgerReceipt.seq >= checkpoint.first_seq, LedgerReceipt.seq <= checkpoint.seq)
            .order_by(LedgerReceipt.seq)
        )
        leaves = [receipt_leaf(int(row_seq), str(row_hash)) for row_seq, row_hash in rows]
        if len(leaves) != checkpoint.seq - checkpoint.first_seq + 1:
            return None  # receipts of the batch are gone: no proof could verify
        _, paths = build_tree(leaves)
        return token, checkpoint, paths


def _covers(checkpoint: Checkpoint, seq: int) -> bool:
    return checkpoint.first_seq is not None and checkpoint.first_seq <= seq <= checkpoint.seq


def row_values(link: ChainedReceipt) -> dict[str, Any]:
    """One ``ledger_receipts`` row as insert values: every column named (an executemany needs the same keys)."""
    r = link.receipt
    return {
        "seq": link.seq,
        "request_id": r.request_id,
        "at_ms": r.at_ms,
        "app": r.app,
        "client_id": r.client_id,
        "sub": r.sub,
        "method": r.method,
        "path": r.path,
        "query_digest": r.query_digest,
        "request_digest": r.request_digest,
        "status": r.status,
        "response_digest": r.response_digest,
        "duration_us": r.duration_us,
        "outcome": r.outcome,
        "prev_hash": link.prev_hash,
        "hash": link.hash,
    }


def build_row(link: ChainedReceipt) -> LedgerReceipt:
    r = link.receipt
    return LedgerReceipt(
        seq=link.seq,
        request_id=r.request_id,
        at_ms=r.at_ms,
        app=r.app,
        client_id=r.client_id,
        sub=r.sub,
        method=r.method,
        path=r.path,
        query_digest=r.query_digest,
        request_digest=r.request_digest,
        status=r.status,
        response_digest=r.response_digest,
        duration_us=r.duration_us,
        outcome=r.outcome,
        prev_hash=link.prev_hash,
        hash=link.hash,
    )


def read_row(row: LedgerReceipt) -> ChainedReceipt:
    receipt = Receipt(
        request_id=row.request_id,
        at_ms=row.at_ms,
        app=row.app,
        client_id=row.client_id,
        sub=row.sub,
        method=row.method,
        path=row.path,
        query_digest=row.query_digest,
        request_digest=row.request_digest,
        status=row.status,
        response_digest=row.response_digest,
        duration_us=row.duration_us,
        outcome=row.outcome,
    )
    return ChainedReceipt(receipt, row.seq, row.prev_hash, row.hash)


async def list_receipts(
    session: AsyncSession, app: str, *, since_ms: int = 0, after_seq: int = 0, limit: int = 100
) -> list[ChainedReceipt]:
    rows = await session.scalars(
        select(LedgerReceipt)
        .where(LedgerReceipt.app == app, LedgerReceipt.at_ms >= since_ms, LedgerReceipt.seq > after_seq)
        .order_by(LedgerReceipt.seq)
        .limit(limit)
    )
    return [read_row(row) for row in rows]


async def load_receipts_of_request(session: AsyncSession, request_id: str, limit: int = 20) -> list[LedgerReceipt]:
    """The newest receipts naming ``request_id`` (a client may name its requests: not unique)."""
    query = (
        select(LedgerReceipt)
        .where(LedgerReceipt.request_id == request_id)
        .order_by(LedgerReceipt.seq.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def stream_chain(session: AsyncSession, batch: int = 1000) -> AsyncIterator[ChainedReceipt]:
    """Every receipt in seq order, in pages (bounded memory)."""
    after = -1
    while True:
        rows = (
            await session.scalars(
                select(LedgerReceipt).where(LedgerReceipt.seq > after).order_by(LedgerReceipt.seq).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield read_row(row)
        after = rows[-1].seq


async def load_checkpoints(session: AsyncSession) -> list[LedgerCheckpoint]:
    return list((await session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.seq))).all())


async def verify_stored(session: AsyncSession, public_jwks: dict[str, dict[str, Any]]) -> LedgerReport:
    """Walk the stored ledger against its stored checkpoints (``gerbang ledger verify``)."""
    checkpoints = [(row.seq, row.hash, row.token) for row in await load_checkpoints(session)]
    verifier = LedgerVerifier(public_jwks, checkpoints)
    async for link in stream_chain(session):
        if not verifier.feed(link):
            break
    return verifier.finish()
