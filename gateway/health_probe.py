"""Database and Redis health as Prometheus gauges, refreshed in the background every ``health_probe_seconds``.

    gerbang_database_up            1 when ``SELECT 1`` answered within the timeout, else 0
    gerbang_database_ping_seconds  how long it took (the timeout when it failed)
    gerbang_redis_up               1 when PING answered (only with GERBANG_REDIS_URL set)
    gerbang_redis_ping_seconds

Each probe runs under its own deadline (and Redis calls carry socket timeouts), so a frozen server sets its
gauge to 0 after the timeout instead of stalling the probe or ``/metrics``. With several worker processes
the merged value is the worst live worker's: ``up`` the minimum, ping time the maximum.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from idp.periodic import Periodic
from idp.throttle.memory_store import MemoryStore

log = logging.getLogger("gerbang.gateway")

DATABASE_TIMEOUT = 2.0
Ping = Callable[[], Awaitable[bool]]


class Probe:
    """One dependency: a ping and its two gauges."""

    def __init__(self, name: str, ping: Ping, timeout: float, registry: CollectorRegistry) -> None:
        self.ping, self.timeout = ping, timeout
        self.up = Gauge(
            f"gerbang_{name}_up",
            f"1 when the {name} answered the last health probe, else 0",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.seconds = Gauge(
            f"gerbang_{name}_ping_seconds",
            f"Duration of the last {name} health probe",
            registry=registry,
            multiprocess_mode="livemax",
        )

    async def run(self) -> bool:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                healthy = await self.ping()
        except Exception as exc:  # any failure is "down"; the reason goes to the log only
            log.debug("health probe failed: %r", exc)
            healthy = False
        self.seconds.set(time.perf_counter() - started)
        self.up.set(1 if healthy else 0)
        return healthy


class HealthProbe:
    def __init__(self, probes: list[Probe], interval: float) -> None:
        self.probes, self.interval = probes, interval
        self.loop = Periodic("health-probe", self.run_once, interval, on_failure="the gauges keep their values")

    async def run_once(self) -> list[bool]:
        return list(await asyncio.gather(*(probe.run() for probe in self.probes)))

    async def start(self) -> None:
        await self.run_once()  # the gauges have values from the first scrape on
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()


def build_health_probe(
    engine: AsyncEngine, limits: object, registry: CollectorRegistry, interval: float
) -> HealthProbe:
    """The database always; Redis when the limit store is Redis-backed (``GERBANG_REDIS_URL`` set)."""

    async def ping_database() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    probes = [Probe("database", ping_database, DATABASE_TIMEOUT, registry)]
    if not isinstance(limits, MemoryStore):
        primary = limits.primary  # type: ignore[attr-defined]  # FallbackStore: the Redis store behind it
        probes.append(Probe("redis", primary.ping, max(0.5, primary.timeout * 4), registry))
    return HealthProbe(probes, interval)
