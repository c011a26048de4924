"""``append_audit``, checkpoints and ``verify_database`` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.audit import (
    CHECKPOINT_ACTION,
    GENESIS_HASH,
    CheckpointPolicy,
    append_audit,
    checkpoint_if_due,
    write_checkpoint,
)
from idp.audit_verify import verify_database
from idp.clock import FrozenClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditCheckpoint, AuditEntry, OpdUnit
from tests.support.audit import ISSUER, SECRET, T0

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    try:
        yield build_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def keys(sessionmaker: async_sessionmaker[AsyncSession]) -> KeyRing:
    ring = KeyRing(sessionmaker, SECRET.encode(), "ES256", FrozenClock(T0))
    await ring.load()
    return ring


async def _append(
    sessionmaker: async_sessionmaker[AsyncSession], n: int, policy: CheckpointPolicy | None = None
) -> AuditEntry:
    async with sessionmaker() as session, session.begin():
        return await append_audit(
            session,
            actor="cli:ani",
            action="opd.create",
            target=f"opd:unit-{n}",
            detail={"n": n, "nama": "Kelurahan 20 Ilir D-I"},
            now=T0 + n,
            checkpoints=policy,
        )


async def _verify(sessionmaker: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    async with sessionmaker() as session:
        return await verify_database(session, secret=SECRET.encode(), batch=7)


async def test_entries_link_from_genesis_and_verify_intact(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    first = await _append(sessionmaker, 1)
    second = await _append(sessionmaker, 2)
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    for n in range(3, 40):
        await _append(sessionmaker, n)
    report = await _verify(sessionmaker)  # batch=7: several pages, one ending exactly at a page edge
    assert report.intact, report.summary()
    assert (report.entries, report.last_seq, report.checkpoints) == (39, 39, 0)


async def test_entry_commits_with_the_audited_change_or_not_at_all(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session, session.begin():
            session.add(OpdUnit(slug="dinkes", name="Dinas Kesehatan", kind="dinas", path="/dinkes/", created_at=T0))
            await append_audit(session, actor="cli:ani", action="opd.create", target="opd:dinkes", detail={}, now=T0)
            raise RuntimeError("the operation fails after auditing")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert await session.scalar(select(func.count()).select_from(OpdUnit)) == 0
    assert (await _append(sessionmaker, 1)).seq == 1


async def test_checkpoint_follows_every_n_entries(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing
) -> None:
    policy = CheckpointPolicy(keys, ISSUER, every=3)
    for n in range(7):
        await _append(sessionmaker, n, policy)
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
        stored = list(await session.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))
    marks = ["C" if action == CHECKPOINT_ACTION else "e" for action in actions]
    assert "".join(marks) == "eeeCeeeCe"
    assert stored == [3, 7]
    report = await _verify(sessionmaker)
    assert report.intact and report.checkpoints == 2


async def test_checkpoint_on_demand_signs_the_head_once(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing
) -> None:
    async with sessionmaker() as session, session.begin():
        assert await write_checkpoint(session, keys, issuer=ISSUER, now=T0) is None  # empty chain
    head = await _append(sessionmaker, 1)
    async with sessionmaker() as session, session.begin():
        checkpoint = await write_checkpoint(session, keys, issuer=ISSUER, now=T0)
        assert checkpoint is not None and (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash)
        assert await write_checkpoint(session, keys, issuer=ISSUER, now=T0) is None  # head is a checkpoint now
        assert await checkpoint_if_due(session, CheckpointPolicy(keys, ISSUER, every=1), T0) is None
    assert (await _verify(sessionmaker)).checkpoints == 1


async def test_checkpoint_if_due_counts_entries_appended_without_a_policy(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing
) -> None:
    policy = CheckpointPolicy(keys, ISSUER, every=3)
    await _append(sessionmaker, 1)
    await _append(sessionmaker, 2)
    async with sessionmaker() as session, session.begin():
        assert await checkpoint_if_due(session, policy, T0) is None  # two entries: not yet
    head = await _append(sessionmaker, 3)  # as the CLI appends: no policy
    async with sessionmaker() as session, session.begin():
        checkpoint = await checkpoint_if_due(session, policy, T0)
        assert checkpoint is not None and checkpoint.seq == head.seq
        assert await checkpoint_if_due(session, policy, T0) is None


@pytest.mark.parametrize(
    "detail", [{"bad": float("nan")}, {"bad": {1, 2}}, {"bad": "\ud800"}], ids=["nan", "set", "lone-surrogate"]
)
async def test_detail_json_cannot_carry_exactly_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], detail: dict
) -> None:
    async with sessionmaker() as session, session.begin():
        with pytest.raises(ValueError, match="canonical JSON"):
            await append_audit(session, actor="a", action="x", target="t", detail=detail, now=T0)


async def test_checkpoint_entries_cannot_be_appended_by_callers(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session, session.begin():
        with pytest.raises(ValueError, match="write_checkpoint"):
            await append_audit(session, actor="a", action=CHECKPOINT_ACTION, target="t", detail={}, now=T0)


async def test_concurrent_tasks_on_separate_connections_keep_one_unbroken_chain(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing
) -> None:
    policy = CheckpointPolicy(keys, ISSUER, every=7)
    tasks, per_task = 8, 10

    async def worker(task: int) -> None:
        for n in range(per_task):
            async with sessionmaker() as session, session.begin():
                await append_audit(
                    session,
                    actor=f"task:{task}",
                    action="test.append",
                    target=f"{task}/{n}",
                    detail={"task": task, "n": n},
                    now=T0,
                    checkpoints=policy,
                )
                await asyncio.sleep(0)  # hold the tail across a scheduling point before committing

    await asyncio.gather(*(worker(task) for task in range(tasks)))
    report = await _verify(sessionmaker)
    assert report.intact, report.summary()
    assert report.entries == tasks * per_task + (tasks * per_task) // 7
    assert report.checkpoints == (tasks * per_task) // 7


def test_concurrent_os_processes_keep_one_unbroken_chain(database_url: str) -> None:
    processes, tasks, per_task, every = 2, 4, 6, 5

    async def prepare() -> None:
        engine = build_engine(database_url)
        try:
            await KeyRing(build_sessionmaker(engine), SECRET.encode(), "ES256", FrozenClock(T0)).load()
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.audit_appender",
                database_url,
                f"p{k}",
                str(tasks),
                str(per_task),
                str(every),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:  # release them together
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        assert [child.wait(timeout=120) for child in children] == [0] * processes
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()

    async def check() -> None:
        engine = build_engine(database_url)
        try:
            report = await _verify(build_sessionmaker(engine))
        finally:
            await engine.dispose()
        total = processes * tasks * per_task
        assert report.intact, report.summary()
        assert (report.entries, report.checkpoints) == (total + total // every, total // every)

    asyncio.run(check())
