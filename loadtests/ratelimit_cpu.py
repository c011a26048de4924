"""Client CPU and latency of one rate-limit check, with and without coalescing (a measurement, not a test).

    python loadtests/ratelimit_cpu.py [--redis redis://127.0.0.1:6379/0] [--checks 20000]

Runs the gateway's limit step (three limits per request: ip, user, OPD day quota — one EVALSHA) from C
concurrent tasks on one event loop (uvloop when installed, as under uvicorn) and prints process CPU time per
check (this process only: Redis's own CPU is not counted) and checks per second, for the Redis store without
coalescing, with coalescing, and the memory store.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from gateway.model import Principal, RequestHead, Route
from gateway.ratelimit.limiter import GatewayLimiter
from idp.throttle.memory_store import MemoryStore
from idp.throttle.redis_client import RedisTimeouts, build_redis_client
from idp.throttle.redis_store import RedisStore
from idp.throttle.store import LimitStore
from policies.limits import LimitSpec

SPECS = [
    LimitSpec(id="ip", per="ip", rate=10**9, period=1, burst=10**9),
    LimitSpec(id="user", per="user", rate=10**9, period=1, burst=10**9),
    LimitSpec(id="opd-day", per="opd", window="day", quota=10**12),
]
ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="bearer",
    resource="r",
)


async def measure(store: LimitStore, checks: int, concurrency: int) -> tuple[float, float]:
    limiter = GatewayLimiter(SPECS, store)
    per_task = checks // concurrency

    async def caller(index: int) -> None:
        principal = Principal(sub=f"user-{index}")
        head = RequestHead("GET", "/apps/parkir/", b"", (), f"10.0.{index // 250}.{index % 250}", "http", "hub", "r")
        for _ in range(per_task):
            await limiter.check(principal, ROUTE, head)

    await asyncio.gather(*(caller(i) for i in range(concurrency)))  # warm up: connections, script
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_task * concurrency
    return cpu / done * 1e6, done / wall


async def measure_ping(url: str, count: int) -> float:
    """The floor: client CPU of one PING round trip, to compare machines and moments (load inflates both)."""
    client = build_redis_client(url, RedisTimeouts(30.0, 30.0))
    for _ in range(200):
        await client.ping()
    cpu = time.process_time()
    for _ in range(count):
        await client.ping()
    cpu = time.process_time() - cpu
    await client.aclose()
    return cpu / count * 1e6


async def main(url: str, checks: int) -> None:
    print(f"baseline: one PING costs {await measure_ping(url, checks // 4):.1f} µs of client CPU")
    print(f"{'store':<22}{'concurrency':>12}{'CPU µs/check':>14}{'checks/s':>11}")
    for concurrency in (1, 10, 50, 200):
        for name in ("redis", "redis coalesced", "memory"):
            if name == "memory":
                store: LimitStore = MemoryStore("bench")
            else:
                client = build_redis_client(url, RedisTimeouts(30.0, 30.0))
                store = RedisStore(
                    client, f"bench-{uuid.uuid4().hex[:8]}", timeout=30.0, coalesce=name.endswith("coalesced")
                )
            cpu_us, rate = await measure(store, checks, concurrency)
            await store.close()
            print(f"{name:<22}{concurrency:>12}{cpu_us:>14.1f}{rate:>11.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--checks", type=int, default=20_000)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.redis, args.checks))
