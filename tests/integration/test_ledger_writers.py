"""The ledger writer carries the chain head in memory (``gateway.integrity.ledger_writer``): two writers on one
database (two workers) taking turns each find the other's receipts and link after them, no receipt is refused,
and the stored ledger verifies (both databases); a writer pipelining batches commits them in chain order."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.integrity.ledger_store import verify_stored
from gateway.integrity.ledger_writer import LedgerWriter
from gateway.integrity.receipts import ProvenReceipt, Receipt
from idp.audit_verify import load_public_jwks
from idp.clock import SystemClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import LedgerReceipt

SECRET = b"s" * 40
ISSUER = "https://gerbang.palembang.go.id"
RECEIPT = Receipt(
    request_id="req",
    at_ms=1_800_000_000_000,
    app="e-budgeting",
    client_id="bapenda-pajak",
    sub=None,
    method="POST",
    path="/api/anggaran",
    query_digest="0" * 64,
    request_digest="1" * 64,
    status=200,
    response_digest="2" * 64,
    duration_us=900,
)


def receipt(number: int) -> Receipt:
    return dataclasses.replace(RECEIPT, request_id=f"req-{number}", at_ms=RECEIPT.at_ms + number)


async def start_writer(database_url: str) -> tuple[LedgerWriter, AsyncEngine]:
    """One worker's writer: its own engine (its own connections), as ``gerbang serve --workers 2`` has."""
    engine = build_engine(database_url)
    sessionmaker = build_sessionmaker(engine)
    ring = KeyRing(sessionmaker, SECRET, "ES256", SystemClock())
    await ring.load()
    writer = LedgerWriter(sessionmaker, ring.sign, SystemClock(), issuer=ISSUER, shared_seconds=0)
    await writer.start()
    return writer, engine


async def take_turns(database_url: str) -> tuple[list[ProvenReceipt], list[int], bool, int]:
    (first, first_engine), (second, second_engine) = await start_writer(database_url), await start_writer(database_url)
    proven: list[ProvenReceipt] = []
    for turn in range(6):
        writer = first if turn % 2 == 0 else second
        proven += await asyncio.gather(*(writer.record(receipt(turn * 10 + n)) for n in range(3)))
    for writer in (first, second):
        await writer.stop()
    async with build_sessionmaker(first_engine)() as session:
        seqs = list((await session.scalars(select(LedgerReceipt.seq).order_by(LedgerReceipt.seq))).all())
        report = await verify_stored(session, await load_public_jwks(session, SECRET))
    for engine in (first_engine, second_engine):
        await engine.dispose()
    return proven, seqs, report.intact, report.checkpoints


def test_two_writers_taking_turns_extend_one_chain(database_url: str) -> None:
    proven, seqs, intact, checkpoints = asyncio.run(take_turns(database_url))
    assert seqs == list(range(1, 19))
    assert sorted(link.link.seq for link in proven) == seqs
    assert intact and checkpoints >= 6


async def pipeline(database_url: str) -> tuple[list[int], bool]:
    writer, engine = await start_writer(database_url)
    waves = []
    for wave in range(5):  # each wave arrives while the one before is still being written
        waves.append(asyncio.gather(*(writer.record(receipt(wave * 100 + n)) for n in range(40))))
        await asyncio.sleep(0.003)
    proven = [link for wave_links in await asyncio.gather(*waves) for link in wave_links]
    batches = writer.batches
    await writer.stop()
    async with build_sessionmaker(engine)() as session:
        report = await verify_stored(session, await load_public_jwks(session, SECRET))
    await engine.dispose()
    assert batches >= 2  # several batches, the later ones prepared while the one before was written
    return [link.link.seq for link in proven], report.intact


def test_pipelined_batches_commit_in_chain_order(database_url: str) -> None:
    seqs, intact = asyncio.run(pipeline(database_url))
    assert sorted(seqs) == list(range(1, 201)) and intact
