"""Cores for the city benchmark: the hub on its own cores, PostgreSQL and the load generator on the others.

The issue's capacity bar is per server with PostgreSQL on its own core or host. This machine has two cores;
``--server-cores 0 --other-cores 1`` runs the hub alone on core 0 and puts PostgreSQL (its postmaster and
every backend it forks afterwards: Linux children inherit the affinity), the benchmark's own process (the
open-loop clients) and Redis on core 1. What one core of hub serves is then measured apart from the database;
a two-core server runs two such workers.

PostgreSQL and Redis are the machine's shared services: their affinity is put back to every core afterwards.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVICES = ("postgres", "redis-server")


def parse_cores(text: str) -> set[int]:
    """``0``, ``0,1`` or ``0-1`` → the set of core numbers; refused when a core is not on this machine."""
    cores: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    available = os.sched_getaffinity(0)
    if not cores or not cores <= available:
        raise ValueError(f"cores {sorted(cores)} are not all on this machine ({sorted(available)})")
    return cores


def taskset_prefix(cores: set[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, sorted(cores)))] if cores else []


@contextmanager
def services_on(cores: set[int] | None) -> Iterator[None]:
    """Pin PostgreSQL's and Redis's processes (all threads) and this process to ``cores``; undo afterwards."""
    if not cores:
        yield
        return
    every = os.sched_getaffinity(0)
    pids = service_pids()
    try:
        _set(pids, cores)
        os.sched_setaffinity(0, cores)
        yield
    finally:
        os.sched_setaffinity(0, every)
        _set(service_pids(), every)


def service_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name in SERVICES:
                found.append(int(entry.name))
    return found


def _set(pids: list[int], cores: set[int]) -> None:
    listed = ",".join(map(str, sorted(cores)))
    for pid in pids:
        # -a: every thread; a process gone meanwhile (a backend that ended) is not an error.
        subprocess.run(["taskset", "-a", "-cp", listed, str(pid)], capture_output=True, check=False)
