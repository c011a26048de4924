"""The pruner deletes what has expired, in bounded batches, one instance at a time; what lives stays."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuthorizationCode, Interaction, ReplayMark
from idp.storage.pruner import CODE_KEPT_AFTER_EXPIRY, LOCK_KEY, Pruner, prune_once
from tests.support.hub import seed

NOW = 2_000_000_000


def _code(index: int, expires_at: int, user_id: str) -> AuthorizationCode:
    return AuthorizationCode(
        code_digest=f"code-{index}",
        client_id="c",
        user_id=user_id,
        redirect_uri="x",
        scope="",
        nonce=f"n-{index}",
        code_challenge="c",
        code_challenge_method="S256",
        resources=[],
        auth_time=0,
        acr="1",
        amr=[],
        family_id=f"f-{index}",
        expires_at=expires_at,
    )


async def _fill(url: str) -> None:
    seeded = await seed(url)
    user_id = next(iter(seeded.users.values()))
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session, session.begin():
        for index in range(7):  # past the nonce window: dead
            session.add(_code(index, NOW - CODE_KEPT_AFTER_EXPIRY - 1 - index, user_id))
        session.add(_code(100, NOW - 10, user_id))  # expired, inside the nonce window: kept
        session.add(_code(101, NOW + 50, user_id))  # live
        for index in range(5):
            session.add(ReplayMark(key=f"dead-{index}", expires_at=NOW - 1))
        session.add(ReplayMark(key="live", expires_at=NOW + 1))
        session.add(Interaction(id_digest="i-live", client_id="c", params=[], created_at=NOW, expires_at=NOW + 60))
        session.add(Interaction(id_digest="i-dead", client_id="c", params=[], created_at=NOW, expires_at=NOW - 60))
    await engine.dispose()


async def _counts(url: str) -> tuple[int, int, int]:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session:
        codes = await session.scalar(select(func.count()).select_from(AuthorizationCode))
        marks = await session.scalar(select(func.count()).select_from(ReplayMark))
        interactions = await session.scalar(select(func.count()).select_from(Interaction))
    await engine.dispose()
    return int(codes or 0), int(marks or 0), int(interactions or 0)


def test_prunes_in_bounded_batches_and_keeps_what_lives(database_url: str) -> None:
    asyncio.run(_fill(database_url))

    async def run(batch: int, max_batches: int) -> dict[str, int] | None:
        engine = build_engine(database_url)
        try:
            return await prune_once(engine, NOW, batch=batch, max_batches=max_batches)
        finally:
            await engine.dispose()

    first = asyncio.run(run(batch=2, max_batches=2))
    assert first is not None and first["authorization_codes"] == 4 and first["replay_marks"] == 4
    assert asyncio.run(_counts(database_url)) == (5, 2, 1)  # bounded: 4 per table per run
    second = asyncio.run(run(batch=2, max_batches=2))
    assert second is not None and second["authorization_codes"] == 3 and second["replay_marks"] == 1
    assert asyncio.run(_counts(database_url)) == (2, 1, 1)  # the code in the nonce window and the live rows


def test_one_instance_prunes_at_a_time_on_postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one host; its writers are serialized by the database")

    async def scenario() -> tuple[dict[str, int] | None, dict[str, int] | None]:
        holder, pruning = build_engine(database_url), build_engine(database_url)
        try:
            async with holder.connect() as connection:  # another instance in the middle of its run
                assert await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
                skipped = await Pruner(pruning, lambda: NOW, 60, 10, 1).run_once()
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            return skipped, await Pruner(pruning, lambda: NOW, 60, 10, 1).run_once()
        finally:
            await holder.dispose()
            await pruning.dispose()

    skipped, ran = asyncio.run(scenario())
    assert skipped is None
    assert ran is not None and set(ran) >= {"authorization_codes", "grants", "browser_sessions"}
