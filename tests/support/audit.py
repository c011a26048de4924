"""Audit-chain test helpers: seed a real chain through ``append_audit``, tamper with it through SQL
the way someone with database access would, and run the ``gerbang`` CLI against the same database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import delete, insert, select, text

from gateway.cli import main
from idp.audit import CHECKPOINT_ACTION, CHECKPOINT_TYP, CheckpointPolicy, EntryFields, append_audit, entry_hash
from idp.clock import FrozenClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditCheckpoint, AuditEntry

SECRET = "audit-tests-secret-0123456789abcdef-0123"
ISSUER = "http://127.0.0.1:8000"
T0 = 1_790_000_000
TABLE = AuditEntry.__table__


async def seed_chain(url: str, entries: int = 10, every: int = 4) -> None:
    """``entries`` ordinary entries with a checkpoint after every ``every`` of them.

    With the defaults the chain is: 1-4, checkpoint over 4 at 5, 6-9, checkpoint over 9 at 10, 11, 12.
    """
    engine = build_engine(url)
    sessionmaker = build_sessionmaker(engine)
    try:
        keys = KeyRing(sessionmaker, SECRET.encode(), "ES256", FrozenClock(T0))
        await keys.load()
        policy = CheckpointPolicy(keys, ISSUER, every)
        for n in range(entries):
            async with sessionmaker() as session, session.begin():
                await append_audit(
                    session,
                    actor="cli:ani",
                    action="user.create",
                    target=f"user:{n}",
                    detail={"n": n, "name": "Ani Ü", "roles": ["operator"]},
                    now=T0 + n,
                    checkpoints=policy,
                )
    finally:
        await engine.dispose()


def run_sql(url: str, *statements: str) -> None:
    async def _run() -> None:
        engine = build_engine(url)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(_run())


def read_chain(url: str) -> list[EntryFields]:
    async def _read() -> list[EntryFields]:
        engine = build_engine(url)
        try:
            async with engine.connect() as connection:
                rows = (await connection.execute(select(TABLE).order_by(TABLE.c.seq))).all()
                return [EntryFields(**row._mapping) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(_read())


def rewrite_chain_from(
    url: str, seq: int, forged: EntryFields, resign: Callable[[dict[str, Any]], str] | None = None
) -> None:
    """Insert ``forged`` at ``seq`` and recompute every later link and hash, as an attacker would.

    With ``resign`` the attacker also re-signs every later checkpoint (entries and stored records)
    with a key of their own; without it the old checkpoint tokens are carried along unchanged.
    """
    chain = read_chain(url)
    tail = [forged, *[entry for entry in chain if entry.seq >= seq]]
    prev_hash = next(entry.hash for entry in chain if entry.seq == seq - 1)
    rebuilt: list[EntryFields] = []
    checkpoints: list[dict[str, Any]] = []
    for offset, entry in enumerate(tail):
        new_seq, detail = seq + offset, entry.detail
        if entry.action == CHECKPOINT_ACTION and resign is not None:
            token = resign({"iss": ISSUER, "seq": new_seq - 1, "hash": prev_hash, "iat": entry.at})
            detail = {**detail, "seq": new_seq - 1, "hash": prev_hash, "kid": "attacker", "token": token}
            checkpoints.append(
                {"seq": new_seq - 1, "hash": prev_hash, "at": entry.at, "kid": "attacker", "token": token}
            )
        new_hash = entry_hash(prev_hash, new_seq, entry.at, entry.actor, entry.action, entry.target, detail)
        rebuilt.append(replace(entry, seq=new_seq, detail=detail, prev_hash=prev_hash, hash=new_hash))
        prev_hash = new_hash

    async def _write() -> None:
        engine = build_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(delete(TABLE).where(TABLE.c.seq >= seq))
                await connection.execute(insert(TABLE), [entry.as_record() for entry in rebuilt])
                if resign is not None:
                    stored = AuditCheckpoint.__table__
                    await connection.execute(delete(stored).where(stored.c.seq >= seq))
                    await connection.execute(insert(stored), checkpoints)
        finally:
            await engine.dispose()

    asyncio.run(_write())


def cli_env(url: str, data_dir: str) -> dict[str, str]:
    return {
        "GERBANG_DATABASE_URL": url,
        "GERBANG_SECRET_KEY": SECRET,
        "GERBANG_DATA_DIR": data_dir,
        "GERBANG_ISSUER": ISSUER,
    }


def gerbang(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def verify_json(env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    result = gerbang(env, "audit", "verify", "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


__all__ = [
    "CHECKPOINT_TYP",
    "ISSUER",
    "SECRET",
    "T0",
    "cli_env",
    "gerbang",
    "read_chain",
    "rewrite_chain_from",
    "run_sql",
    "seed_chain",
    "verify_json",
]
