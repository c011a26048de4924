"""One gateway-like process hammering one limit key: ``python -m tests.support.limit_hammer URL PREFIX SECONDS``.

Prints "ready", waits for the start time on stdin (so every process starts together), checks as fast as it can
with 20 concurrent callers for SECONDS, then prints the number of requests the shared limit admitted.
"""

from __future__ import annotations

import asyncio
import sys
import time

from idp.throttle.redis_client import RedisTimeouts, build_redis_client
from idp.throttle.redis_store import RedisStore
from idp.throttle.store import Hit
from policies.limits import LimitSpec

SPEC = LimitSpec(id="shared", per="app", rate=50, period=1, burst=20)


async def hammer(url: str, prefix: str, seconds: float, start_at: float) -> int:
    store = RedisStore(build_redis_client(url, RedisTimeouts(2.0, 2.0)), prefix, timeout=2.0)
    admitted = 0

    async def caller() -> None:
        nonlocal admitted
        while time.time() < start_at + seconds:
            outcome = (await store.check([Hit(SPEC, "parkir")]))[0]  # awaited before `admitted` is read
            admitted += outcome.allowed

    await asyncio.sleep(max(0.0, start_at - time.time()))
    await asyncio.gather(*(caller() for _ in range(20)))
    await store.close()
    return admitted


if __name__ == "__main__":
    url, prefix, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print("ready", flush=True)
    print(asyncio.run(hammer(url, prefix, seconds, float(sys.stdin.readline()))))
