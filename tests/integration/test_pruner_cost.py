"""A pruning pass reads the rows it deletes, not the table, whatever PostgreSQL's statistics say.

Measured in a one-hour city run: the pruned tables grow faster than autovacuum analyses them, and with stale or no
statistics PostgreSQL served ``DELETE ... WHERE key IN (SELECT key ... WHERE expires_at < now LIMIT n)`` with a
sequential scan of the whole table at every pass (a hash semi-join, or a scan that finds fewer dead rows than the
batch) although an index on ``expires_at`` exists. Rows read per sign-in grew 46 → 118 over the hour.

Here the tables are filled in bulk with autovacuum off for them and never analysed, then one pass runs; what it read
is PostgreSQL's own count (``pg_stat_user_tables``: sequential and index fetches), not a time.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from idp.storage.db import build_engine
from idp.storage.pruner import CODE_KEPT_AFTER_EXPIRY, prune_once
from tests.support.eventually import eventually
from tests.support.hub import seed

NOW = 2_000_000_000
LIVE = 20_000  # rows that stay, per table
DEAD = 250  # rows to delete, per table: not a multiple of the batch, so the last batch finds fewer than it asks
BATCH = 100
TABLES = ("authorization_codes", "replay_marks")

FILL_SQL = {
    # The oldest first, as they are written: the dead rows lead the heap, the live ones follow.
    "authorization_codes": (
        "INSERT INTO authorization_codes (code_digest, client_id, user_id, session_id, redirect_uri, scope, nonce, "
        "code_challenge, code_challenge_method, resources, auth_time, acr, amr, family_id, expires_at) "
        "SELECT md5(i::text), 'c', :user, NULL, 'x', 'openid', md5('n' || i::text), 'c', 'S256', '[]', 0, '1', "
        "'[\"pwd\"]', md5('f' || i::text), "
        "CASE WHEN i <= CAST(:dead AS int) THEN CAST(:dead_before AS bigint) - i ELSE CAST(:now AS bigint) + i END "
        "FROM generate_series(1, CAST(:dead AS int) + CAST(:live AS int)) AS i"
    ),
    "replay_marks": (
        "INSERT INTO replay_marks (key, expires_at) "
        "SELECT md5(i::text), CASE WHEN i <= CAST(:dead AS int) THEN CAST(:now AS bigint) - i "
        "ELSE CAST(:now AS bigint) + i END FROM generate_series(1, CAST(:dead AS int) + CAST(:live AS int)) AS i"
    ),
}


async def _fill(url: str) -> None:
    """Bulk rows in tables that have never been analysed and that autovacuum leaves alone (no statistics)."""
    user_id = next(iter((await seed(url)).users.values()))
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            for table in TABLES:
                await connection.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
                values = {"user": user_id, "dead": DEAD, "live": LIVE, "now": NOW}
                values["dead_before"] = NOW - CODE_KEPT_AFTER_EXPIRY
                await connection.execute(text(FILL_SQL[table]), values)
            analysed = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(:tables) "
                    "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)"
                ),
                {"tables": list(TABLES)},
            )
            assert analysed == 0
    finally:
        await engine.dispose()


async def _counters(url: str) -> dict[str, tuple[int, int, int]]:
    """Per table: rows read (sequential + fetched through an index), inserted, deleted."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS read, n_tup_ins, n_tup_del "
            "FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
            list(TABLES),
        )
    finally:
        await connection.close()
    return {row["relname"]: (int(row["read"]), int(row["n_tup_ins"]), int(row["n_tup_del"])) for row in rows}


def _published(url: str, inserted: int, deleted: int) -> dict[str, tuple[int, int, int]]:
    """The counters once every backend that wrote has published its own (a backend publishes when it ends)."""

    def check() -> dict[str, tuple[int, int, int]] | None:
        counters = asyncio.run(_counters(url))
        done = len(counters) == len(TABLES) and all(
            ins == inserted and dele == deleted for _read, ins, dele in counters.values()
        )
        return counters if done else None

    return eventually(check, timeout=30, interval=0.2)


async def _prune(url: str) -> dict[str, int] | None:
    engine = build_engine(url)
    try:
        return await prune_once(engine, NOW, batch=BATCH, max_batches=10)
    finally:
        await engine.dispose()


def test_a_pruning_pass_reads_about_the_rows_it_deletes_without_statistics(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("rows read are counted by PostgreSQL; SQLite's pruning is tested in test_pruner.py")
    asyncio.run(_fill(database_url))
    before = _published(database_url, inserted=DEAD + LIVE, deleted=0)
    pruned = asyncio.run(_prune(database_url))
    assert pruned is not None and all(pruned[table] == DEAD for table in TABLES), pruned
    after = _published(database_url, inserted=DEAD + LIVE, deleted=DEAD)
    read = {table: after[table][0] - before[table][0] for table in TABLES}
    # Each deleted row is read twice (found through expires_at, then deleted through its key), plus the batch
    # boundary; a sequential pass would read the LIVE rows too.
    for table in TABLES:
        assert read[table] <= 2 * DEAD + BATCH, read
