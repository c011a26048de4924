"""``gerbang ledger verify`` catches every kind of tampering with the ledger tables (both databases): an edited,
deleted, inserted or reordered receipt, a cut tail, a chain recomputed after an edit, a forged or deleted checkpoint;
a receipt's proof (its batch's signed checkpoint and its Merkle audit path) verifies offline with the JWKS alone and
fails for another batch or an altered path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.integrity.ledger_store import BatchProver, append_receipts, build_row, stream_chain, verify_stored
from gateway.integrity.ledger_verify import LedgerReport
from gateway.integrity.receipts import ChainedReceipt, ProvenReceipt, Receipt, chain_hash, check_receipt_token
from idp.audit_verify import load_public_jwks
from idp.clock import SystemClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker

SECRET = b"s" * 40
ISSUER = "https://gerbang.palembang.go.id"


def receipt(number: int) -> Receipt:
    """Receipt 7 is of an exchange that ended early (its ``outcome`` is part of what the chain hash covers)."""
    return Receipt(
        request_id=f"req-{number}",
        at_ms=1_800_000_000_000 + number,
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
        outcome="client-gone" if number == 7 else None,
    )


async def build_ledger(database_url: str) -> list[ProvenReceipt]:
    """Nine receipts in three batches (three signed checkpoints: seq 3, 6, 9)."""
    engine = build_engine(database_url)
    sessionmaker = build_sessionmaker(engine)
    ring = KeyRing(sessionmaker, SECRET, "ES256", SystemClock())
    await ring.load()
    proven = []
    for batch in range(3):
        async with sessionmaker() as session, session.begin():
            proven += await append_receipts(
                session, [receipt(batch * 3 + n) for n in range(1, 4)], ring.sign, 1_800_000_000, ISSUER
            )
    await engine.dispose()
    return proven


async def verify(database_url: str) -> LedgerReport:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session:
        report = await verify_stored(session, await load_public_jwks(session, SECRET))
    await engine.dispose()
    return report


async def run_sql(database_url: str, *statements: str) -> None:
    engine = build_engine(database_url)
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))
    await engine.dispose()


async def rewrite_from(database_url: str, seq: int, change: Callable[[Receipt], Receipt]) -> None:
    """The attacker's best effort without the key: edit one receipt and recompute every hash after it."""
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        links = [link async for link in stream_chain(session)]
        await session.execute(text(f"DELETE FROM ledger_receipts WHERE seq >= {seq}"))
        prev = links[seq - 2].hash if seq > 1 else "0" * 64
        for link in links[seq - 1 :]:
            content = change(link.receipt) if link.seq == seq else link.receipt
            forged = ChainedReceipt(content, link.seq, prev, chain_hash(prev, content))
            session.add(build_row(forged))
            prev = forged.hash
    await engine.dispose()


def forged_row(seq: int, prev: str) -> str:
    r = receipt(100)
    digest = chain_hash(prev, r)
    return (
        f"INSERT INTO ledger_receipts (seq, request_id, at_ms, app, client_id, sub, method, path, query_digest, "
        f"request_digest, status, response_digest, duration_us, prev_hash, hash) VALUES ({seq}, '{r.request_id}', "
        f"{r.at_ms}, '{r.app}', '{r.client_id}', NULL, 'POST', '/api/anggaran', '{r.query_digest}', "
        f"'{r.request_digest}', 200, '{r.response_digest}', {r.duration_us}, '{prev}', '{digest}')"
    )


TAMPERING: dict[str, tuple[list[str], str, int]] = {
    "edit": (["UPDATE ledger_receipts SET status = 500 WHERE seq = 5"], "edited", 5),
    # An exchange that ended early passed off as delivered, and the other way round.
    "outcome-erased": (["UPDATE ledger_receipts SET outcome = NULL WHERE seq = 7"], "edited", 7),
    "outcome-added": (["UPDATE ledger_receipts SET outcome = 'client-gone' WHERE seq = 2"], "edited", 2),
    "delete": (["DELETE FROM ledger_receipts WHERE seq = 4"], "deleted", 4),
    "insert-at-end": ([forged_row(10, "f" * 64)], "inserted", 10),
    "insert-renumbered": (
        [
            "UPDATE ledger_receipts SET seq = seq + 100 WHERE seq >= 5",
            "UPDATE ledger_receipts SET seq = seq - 99 WHERE seq >= 105",
            forged_row(5, "e" * 64),
        ],
        "inserted",
        5,
    ),
    "reorder": (
        [
            "UPDATE ledger_receipts SET seq = 100 WHERE seq = 4",
            "UPDATE ledger_receipts SET seq = 4 WHERE seq = 5",
            "UPDATE ledger_receipts SET seq = 5 WHERE seq = 100",
        ],
        "inserted",
        4,
    ),
    "truncate": (["DELETE FROM ledger_receipts WHERE seq >= 8"], "truncated", 8),
    "forged-checkpoint": (["UPDATE ledger_checkpoints SET hash = 'ab' WHERE seq = 6"], "checkpoint-invalid", 6),
    "checkpoint-of-another-batch": (
        ["UPDATE ledger_checkpoints SET token = (SELECT token FROM ledger_checkpoints WHERE seq = 3) WHERE seq = 6"],
        "checkpoint-invalid",
        6,
    ),
    "deleted-checkpoint": (["DELETE FROM ledger_checkpoints WHERE seq = 6"], "checkpoint-missing", 9),
}


def test_an_untouched_ledger_is_intact(database_url: str) -> None:
    asyncio.run(build_ledger(database_url))
    report = asyncio.run(verify(database_url))
    assert report.intact and report.receipts == 9 and report.checkpoints == 3, report.summary()


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_every_kind_of_tampering_is_caught(database_url: str, kind: str) -> None:
    statements, expected, seq = TAMPERING[kind]
    asyncio.run(build_ledger(database_url))
    asyncio.run(run_sql(database_url, *statements))
    report = asyncio.run(verify(database_url))
    assert not report.intact, kind
    first = min(report.faults, key=lambda fault: fault.seq)
    assert (first.kind, first.seq) == (expected, seq), report.summary()


def test_a_chain_recomputed_after_an_edit_is_caught_by_the_signed_checkpoints(database_url: str) -> None:
    asyncio.run(build_ledger(database_url))
    asyncio.run(rewrite_from(database_url, 5, lambda r: dataclasses.replace(r, status=204)))
    report = asyncio.run(verify(database_url))
    assert [fault.kind for fault in report.faults] == ["rewritten"], report.summary()


def test_the_cli_exits_3_on_tampering(database_url: str, tmp_path: Path) -> None:
    asyncio.run(build_ledger(database_url))
    env = {key: value for key, value in os.environ.items() if not key.startswith("GERBANG_")}
    env.update(
        GERBANG_DATABASE_URL=database_url,
        GERBANG_SECRET_KEY=SECRET.decode(),
        GERBANG_CONFIG=str(tmp_path / "absent.toml"),
        GERBANG_DATA_DIR=str(tmp_path),
    )

    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "ledger", "verify", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    intact = cli()
    assert intact.returncode == 0 and json.loads(intact.stdout)["intact"] is True, intact.stderr
    asyncio.run(run_sql(database_url, "UPDATE ledger_receipts SET path = '/api/lain' WHERE seq = 2"))
    tampered = cli()
    assert tampered.returncode == 3 and json.loads(tampered.stdout)["faults"][0]["kind"] == "edited"


def test_export_writes_each_receipt_with_a_proof_that_verifies_offline(database_url: str, tmp_path: Path) -> None:
    asyncio.run(build_ledger(database_url))
    env = {key: value for key, value in os.environ.items() if not key.startswith("GERBANG_")}
    env.update(
        GERBANG_DATABASE_URL=database_url,
        GERBANG_SECRET_KEY=SECRET.decode(),
        GERBANG_ISSUER=ISSUER,
        GERBANG_CONFIG=str(tmp_path / "absent.toml"),
        GERBANG_DATA_DIR=str(tmp_path),
    )
    out = tmp_path / "receipts.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "ledger",
            "export",
            "--app",
            "e-budgeting",
            "--since",
            "2027-01-15T08:00:00+07:00",
            "--output",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    engine_keys = asyncio.run(_public_keys(database_url))
    jwks = {"keys": list(engine_keys.values())}
    receipts = [line for line in lines if "receipt" in line]
    assert [line["receipt"]["seq"] for line in receipts] == list(range(1, 10))
    for line in receipts:
        assert check_receipt_token(line["proof"], jwks, ISSUER).as_json() == line["receipt"]
    assert lines[-1]["checkpoint"]["seq"] == 9 and lines[-1]["checkpoint"]["hash"] == receipts[-1]["receipt"]["hash"]
    later = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "ledger",
            "export",
            "--app",
            "e-budgeting",
            "--since",
            str(1_800_000_000 + 1),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert later.returncode == 0 and '"receipt"' not in later.stdout and '"checkpoint"' in later.stdout


async def _public_keys(database_url: str) -> dict[str, dict[str, object]]:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session:
        keys = await load_public_jwks(session, SECRET)
    await engine.dispose()
    return keys


def test_a_receipt_verifies_offline_with_only_the_published_jwks(database_url: str, tmp_path: Path) -> None:
    """A fresh process holding the JWKS document and the Gerbang-Receipt value, and nothing else (no database)."""
    proven = asyncio.run(build_ledger(database_url))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": list(asyncio.run(_public_keys(database_url)).values())}))
    token = tmp_path / "receipt.txt"
    token.write_text(proven[4].token())
    check = (
        "import json, sys; from gateway.integrity.receipts import check_receipt_token; "
        "r = check_receipt_token(open(sys.argv[2]).read(), json.load(open(sys.argv[1])), sys.argv[3]); "
        "print(r.seq, r.hash, r.receipt.request_id)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(jwks), str(token), ISSUER], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", proven[4].link.hash, "req-5"]
    wrong_issuer = subprocess.run(
        [sys.executable, "-c", check, str(jwks), str(token), "https://palsu.example"], capture_output=True, text=True
    )
    assert wrong_issuer.returncode != 0 and "iss" in wrong_issuer.stderr.lower()


def test_a_proof_for_another_batch_fails(database_url: str) -> None:
    proven = asyncio.run(build_ledger(database_url))
    jwks = {"keys": list(asyncio.run(_public_keys(database_url)).values())}
    first, second = proven[1], proven[4]  # seq 2 in batch 1-3, seq 5 in batch 4-6, both at index 1
    assert check_receipt_token(first.token(), jwks, ISSUER).seq == 2
    # Batch 1's receipt and path under batch 2's signed checkpoint.
    moved = ProvenReceipt(first.link, second.checkpoint_token, first.path)
    with pytest.raises(ValueError, match="not in the batch"):
        check_receipt_token(moved.token(), jwks, ISSUER)
    # Renumbered to sit in batch 2: the leaf commits to seq, so the path no longer leads to the tree head.
    renumbered = ProvenReceipt(dataclasses.replace(first.link, seq=5), second.checkpoint_token, first.path)
    with pytest.raises(ValueError, match="audit path"):
        check_receipt_token(renumbered.token(), jwks, ISSUER)
    # Batch 2's own path with batch 1's receipt renumbered.
    borrowed = ProvenReceipt(dataclasses.replace(first.link, seq=5), second.checkpoint_token, second.path)
    with pytest.raises(ValueError, match="audit path"):
        check_receipt_token(borrowed.token(), jwks, ISSUER)


def test_an_altered_audit_path_fails(database_url: str) -> None:
    proven = asyncio.run(build_ledger(database_url))
    jwks = {"keys": list(asyncio.run(_public_keys(database_url)).values())}
    honest = proven[7]  # seq 8: index 1 of a 3-leaf batch, a path of two siblings
    assert len(honest.path) == 2 and check_receipt_token(honest.token(), jwks, ISSUER).seq == 8
    flipped = bytes([honest.path[0][0] ^ 1]) + honest.path[0][1:]
    altered = {
        "a flipped bit": [flipped, honest.path[1]],
        "swapped siblings": [honest.path[1], honest.path[0]],
        "a sibling dropped": honest.path[:1],
        "a sibling added": [*honest.path, honest.path[0]],
        "no path": [],
    }
    for name, path in altered.items():
        with pytest.raises(ValueError, match="audit path"):
            check_receipt_token(ProvenReceipt(honest.link, honest.checkpoint_token, path).token(), jwks, ISSUER)
            pytest.fail(name)
    forged_checkpoint = honest.checkpoint_token[:-4] + (
        "AAAA" if not honest.checkpoint_token.endswith("AAAA") else "BBBB"
    )
    with pytest.raises(ValueError, match="signature"):
        check_receipt_token(ProvenReceipt(honest.link, forged_checkpoint, honest.path).token(), jwks, ISSUER)


def test_a_damaged_checkpoint_row_leaves_its_batch_without_proofs_and_the_rest_proven(database_url: str) -> None:
    asyncio.run(build_ledger(database_url))
    asyncio.run(run_sql(database_url, "UPDATE ledger_checkpoints SET token = 'rusak' WHERE seq = 6"))
    jwks = {"keys": list(asyncio.run(_public_keys(database_url)).values())}

    async def prove_all() -> list[str | None]:
        engine = build_engine(database_url)
        async with build_sessionmaker(engine)() as session:
            prover = BatchProver(session)
            tokens = []
            async for link in stream_chain(session):
                proven = await prover.prove(link)
                tokens.append(None if proven is None else proven.token())
        await engine.dispose()
        return tokens

    tokens = asyncio.run(prove_all())
    assert [token is None for token in tokens] == [False] * 3 + [True] * 3 + [False] * 3
    assert [check_receipt_token(token, jwks, ISSUER).seq for token in tokens if token] == [1, 2, 3, 7, 8, 9]
