"""The ledger writer carries the chain head in memory (``gateway.integrity.ledger_writer``): two writers on one
database (two workers) taking turns each find the other's receipts and link after them, no receipt is refused,
and the stored ledger verifies (both databases); a writer pipelining batches commits them in chain order; a batch
lingers for the receipts of exchanges still under way, and only for them."""

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


async def start_writer(database_url: str, linger: float = 0.002) -> tuple[LedgerWriter, AsyncEngine]:
    """One worker's writer: its own engine (its own connections), as ``gerbang serve --workers 2`` has."""
    engine = build_engine(database_url)
    sessionmaker = build_sessionmaker(engine)
    ring = KeyRing(sessionmaker, SECRET, "ES256", SystemClock())
    await ring.load()
    writer = LedgerWriter(sessionmaker, ring.sign, SystemClock(), issuer=ISSUER, shared_seconds=0, linger=linger)
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


async def linger_for_what_is_under_way(database_url: str) -> tuple[int, list[int]]:
    writer, engine = await start_writer(database_url, linger=60.0)  # a wait nobody would sit out in a test
    try:
        # Nothing else under way: the lone receipt is written at once, not after the linger.
        alone = await asyncio.wait_for(writer.record(receipt(1)), 20)
        # One more exchange under way: the first receipt waits for it, and both go in one batch.
        writer.expect()
        writer.expect()
        writer.unexpect()  # the first exchange hands its receipt over
        first = asyncio.ensure_future(writer.record(receipt(2)))
        await asyncio.sleep(0.2)
        assert not first.done()  # lingering for the exchange still under way
        batches = writer.batches

        async def hand_over(last: Receipt) -> ProvenReceipt:  # as the observer does: no pause between the two
            writer.unexpect()
            return await writer.record(last)

        second = await asyncio.wait_for(hand_over(receipt(3)), 20)
        together = await asyncio.wait_for(first, 20)
        assert writer.batches == batches + 1
        return alone.link.seq, [together.link.seq, second.link.seq]
    finally:
        await writer.stop()
        await engine.dispose()


def test_a_batch_lingers_only_for_receipts_still_to_come(database_url: str) -> None:
    alone, together = asyncio.run(linger_for_what_is_under_way(database_url))
    assert alone == 1 and together == [2, 3]
