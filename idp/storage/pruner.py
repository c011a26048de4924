"""Deletes what has expired, so the cost of a sign-in does not grow with the city's history.

Codes, sessions, tokens, interactions, challenges and replay marks are written on every sign-in and read only
while they live. Without pruning the tables grow by millions of rows a day; every read is an indexed point lookup
(``idp/storage/models.py``), but the indexes, the cache and the vacuum still pay for the dead rows.

    scheduled   every ``prune_seconds`` in each instance (first run after a random part of one interval)
    one at a time
                PostgreSQL: a session-level advisory lock, tried without waiting; an instance that does not get it
                skips this run. SQLite serves one host and serializes writers itself.
    bounded     each table is deleted ``batch`` rows at a time, one short transaction per batch (no long lock, no
                huge WAL burst), at most ``max_batches`` per table per run; what is left goes in the next run.
    an index walk
                a batch reads the rows it deletes, not the table, whatever the statistics say: the oldest
                ``batch`` keys through the index on ``expires_at`` (``ORDER BY expires_at LIMIT``), then the rows by
                those keys. On PostgreSQL the keys are one array (``key = ANY(ARRAY(...))``: a hash semi-join of
                the table against ``IN (...)`` read the whole table) and sequential scans are off for the batch's
                transaction: the pruned tables grow faster than autovacuum analyses them, and without fresh
                statistics the planner chose a sequential pass over every row (measured: rows read per sign-in
                46 → 118 over an hour, ``loadtests/results/signin-city-hour-2026-12-07.md``).

What goes when (``now`` in seconds):
    authorization_codes  an hour after expiry: the nonce replay check looks back an hour (``authorization_steps``)
                         and a redeemed code that comes back within it still revokes what it issued
    everything else      at expiry (an ended session too: it ends at the latest ``session_ttl`` after sign-in)
"""

from __future__ import annotations

import contextlib
import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Delete, Select, any_, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from idp.periodic import Periodic
from idp.storage.db import rows_affected
from idp.storage.gateway_models import ConsoleSession, GatewaySession
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    BrowserSession,
    Grant,
    Interaction,
    LoginChallenge,
    RefreshToken,
    ReplayMark,
    RevokedToken,
    WebAuthnChallenge,
)

log = logging.getLogger("gerbang.idp.pruner")

CODE_KEPT_AFTER_EXPIRY = 3600  # the nonce replay window
LOCK_KEY = zlib.crc32(b"gerbang-pruner")
# For the batch's transaction only (every pruned table has an index on its rule's column, tests/unit): no
# sequential scan, and no bitmap scan that would read every dead row's index entry to return the oldest ``batch``.
WALK_INDEXES = text("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)")


@dataclass(frozen=True)
class Rule:
    key: InstrumentedAttribute[Any]  # the primary key
    expires_at: InstrumentedAttribute[int]  # indexed: the batch is walked in its order
    kept_after_expiry: int = 0

    def dead(self, now: int) -> ColumnElement[bool]:
        return self.expires_at < now - self.kept_after_expiry

    def oldest_dead(self, now: int, batch: int) -> Select[tuple[Any]]:
        return select(self.key).where(self.dead(now)).order_by(self.expires_at).limit(batch)


RULES: tuple[Rule, ...] = (
    Rule(AuthorizationCode.code_digest, AuthorizationCode.expires_at, CODE_KEPT_AFTER_EXPIRY),
    Rule(AccessToken.jti, AccessToken.expires_at),
    Rule(RefreshToken.token_digest, RefreshToken.expires_at),
    Rule(Grant.id, Grant.expires_at),
    Rule(RevokedToken.jti, RevokedToken.expires_at),
    Rule(Interaction.id_digest, Interaction.expires_at),
    Rule(ReplayMark.key, ReplayMark.expires_at),
    Rule(LoginChallenge.id_digest, LoginChallenge.expires_at),
    Rule(WebAuthnChallenge.id_digest, WebAuthnChallenge.expires_at),
    Rule(BrowserSession.id_digest, BrowserSession.expires_at),
    Rule(GatewaySession.id_digest, GatewaySession.expires_at),
    Rule(ConsoleSession.id_digest, ConsoleSession.expires_at),
)


async def prune_once(
    engine: AsyncEngine, now: int, *, batch: int = 2000, max_batches: int = 50
) -> dict[str, int] | None:
    """One pruning pass over every table; rows deleted per table, or None if another instance is pruning."""
    async with engine.connect() as connection:
        if not await _try_lock(connection):
            return None
        try:
            return {
                rule.key.class_.__tablename__: await _prune_table(connection, rule, now, batch, max_batches)
                for rule in RULES
            }
        finally:
            await _unlock(connection)


async def _prune_table(connection: AsyncConnection, rule: Rule, now: int, batch: int, max_batches: int) -> int:
    statement = _delete_batch(rule, now, batch, connection.dialect.name)
    deleted = 0
    for _ in range(max_batches):
        if connection.dialect.name == "postgresql":
            await connection.execute(WALK_INDEXES)
        result = await connection.execute(statement)
        await connection.commit()
        count = rows_affected(result)
        deleted += count
        if count < batch:
            break
    return deleted


def _delete_batch(rule: Rule, now: int, batch: int, dialect: str) -> Delete:
    keys = rule.oldest_dead(now, batch).scalar_subquery()
    chosen = rule.key == any_(func.array(keys)) if dialect == "postgresql" else rule.key.in_(keys)
    return delete(rule.key.class_).where(chosen)


async def _try_lock(connection: AsyncConnection) -> bool:
    if connection.dialect.name != "postgresql":
        return True
    locked = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}))
    await connection.commit()  # a session-level lock outlives the transaction; nothing else stays open
    return locked


async def _unlock(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        with contextlib.suppress(Exception):  # a dropped connection released the lock already
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await connection.commit()


class Pruner:
    """The scheduled job: ``start`` in the lifespan, ``stop`` at shutdown. A failed pass is logged and retried."""

    def __init__(
        self, engine: AsyncEngine, now: Callable[[], int], interval: float, batch: int, max_batches: int
    ) -> None:
        self._engine, self._now = engine, now
        self.interval, self.batch, self.max_batches = interval, batch, max_batches
        # Instances started together spread out.
        self.loop = Periodic("pruner", self._tick, interval, first_delay=random.uniform(0.1, 1.0) * interval)

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def run_once(self) -> dict[str, int] | None:
        return await prune_once(self._engine, self._now(), batch=self.batch, max_batches=self.max_batches)

    async def _tick(self) -> None:
        pruned = await self.run_once()
        if pruned and any(pruned.values()):
            log.info("pruned expired rows", extra={"pruned": {k: v for k, v in pruned.items() if v}})
