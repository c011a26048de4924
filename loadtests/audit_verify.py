"""Benchmark: how fast ``verify_database`` walks a long audit chain, and that its memory stays flat.

    python loadtests/audit_verify.py seed URL COUNT     # write COUNT chained entries (bulk, in batches)
    python loadtests/audit_verify.py verify URL [BATCH] # verify; prints entries/s and peak RSS

Run ``verify`` in its own process so the peak RSS it prints is the verifier's alone. The URL's
database must be migrated (``gerbang db upgrade``).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

from sqlalchemy import insert

from idp.audit import GENESIS_HASH, entry_hash
from idp.audit_verify import verify_database
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry

SEED_BATCH = 5000


async def seed(url: str, count: int) -> None:
    engine = build_engine(url)
    prev, seq, started = GENESIS_HASH, 0, time.perf_counter()
    try:
        while seq < count:
            rows = []
            for _ in range(min(SEED_BATCH, count - seq)):
                seq += 1
                detail = {"email": f"warga{seq}@example.id", "roles": ["operator"], "opd": "dinkes"}
                digest = entry_hash(prev, seq, 1_790_000_000 + seq, "cli:bench", "user.create", f"user:{seq}", detail)
                rows.append(
                    {
                        "seq": seq,
                        "at": 1_790_000_000 + seq,
                        "actor": "cli:bench",
                        "action": "user.create",
                        "target": f"user:{seq}",
                        "detail": detail,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            async with engine.begin() as connection:
                await connection.execute(insert(AuditEntry.__table__), rows)
    finally:
        await engine.dispose()
    print(f"seeded {count} entries in {time.perf_counter() - started:.1f} s")


async def verify(url: str, batch: int) -> None:
    engine = build_engine(url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        async with build_sessionmaker(engine)() as session:
            report = await verify_database(session, batch=batch)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(report.summary())
    print(
        f"{report.entries} entries in {elapsed:.1f} s = {report.entries / elapsed:,.0f} entries/s; "
        f"peak RSS {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after"
    )


if __name__ == "__main__":
    command, url = sys.argv[1], sys.argv[2]
    if command == "seed":
        asyncio.run(seed(url, int(sys.argv[3])))
    else:
        asyncio.run(verify(url, int(sys.argv[3]) if len(sys.argv) > 3 else 2000))
