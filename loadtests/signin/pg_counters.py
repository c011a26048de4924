"""What PostgreSQL itself counted for the benchmark's database: rows read, transactions, backends' CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class PgCounters:
    rows_read: int  # seq_tup_read + idx_tup_fetch over the user tables
    transactions: int  # xact_commit + xact_rollback
    backend_cpu: dict[int, float]  # pid -> CPU seconds of each backend serving the database


async def read_counters(database_url: str) -> PgCounters:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetchval(
            "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_user_tables"
        )
        transactions = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return PgCounters(int(rows), int(transactions), {row["pid"]: _cpu_seconds(row["pid"]) for row in pids})


def backend_cpu_between(before: PgCounters, after: PgCounters) -> float:
    """CPU the database's backends used between two readings (a backend born in between counts from zero)."""
    return sum(cpu - before.backend_cpu.get(pid, 0.0) for pid, cpu in after.backend_cpu.items())


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
