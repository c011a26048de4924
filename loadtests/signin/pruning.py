"""The pruner's work counted apart from the sign-ins': PostgreSQL's table counters are database-wide, so while the
hub's own pruner runs every few minutes its passes land in "rows read per sign-in" (the one-hour run's 46 → 118).

The benchmark starts the hub with pruning left to it (``GERBANG_PRUNE_SECONDS`` at its maximum, a day) and runs one
pass itself after each measured window: ``idp.storage.pruner.prune_once``, the code the hub runs, with its default
batches, from the benchmark's own checkout (also when ``GERBANG_BENCH_CLI`` names another build's hub).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loadtests.signin.pg_counters import read_counters

HUB_PRUNES_EVERY = "86400"  # seconds: the settings' maximum, longer than any run


async def prune_and_count(database_url: str, settle_seconds: float) -> dict[str, Any]:
    """One pass over every pruned table: rows it deleted and rows PostgreSQL read for it."""
    from idp.storage.db import build_engine
    from idp.storage.pruner import prune_once

    before = await read_counters(database_url)
    engine = build_engine(database_url)
    try:
        pruned = await prune_once(engine, int(time.time())) or {}
    finally:
        await engine.dispose()  # its backend ends and publishes its counters
    await asyncio.sleep(settle_seconds)
    after = await read_counters(database_url)
    return {"deleted": sum(pruned.values()), "rows_read": after.rows_read - before.rows_read}
