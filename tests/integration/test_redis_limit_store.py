"""The Redis store on the shared Redis: the same decisions as the memory store, coalescing, NOSCRIPT,
quotas on the Redis side, the Redis clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio

from idp.throttle.memory_store import MemoryStore
from idp.throttle.redis_client import RedisTimeouts, build_redis_client
from idp.throttle.redis_store import RedisStore
from idp.throttle.store import Hit
from policies.limits import LimitSpec
from tests.support.clocks import MicroClock

SPECS = [
    LimitSpec(id="ip", per="ip", rate=2, period=1, burst=3),
    LimitSpec(id="user", per="user", rate=3, period=2, burst=0),
    LimitSpec(id="opd-day", per="opd", window="day", quota=25),
    LimitSpec(id="opd-month", per="opd", window="month", quota=40),
]
TIMEOUTS = RedisTimeouts(socket=0.5, connect=0.5)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = build_redis_client(redis_url, TIMEOUTS)
    assert isinstance(made, redis.asyncio.Redis)
    yield made
    await made.aclose()


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp() * 1_000_000)  # type: ignore[misc]


@pytest.mark.parametrize("coalesce", [True, False])
async def test_redis_and_memory_decide_identically(
    client: redis.asyncio.Redis, redis_prefix: str, coalesce: bool
) -> None:
    clock = MicroClock(at(2026, 11, 30, 23, 59))  # crosses a Jakarta midnight and a month end
    memory = MemoryStore(redis_prefix, clock)
    shared = RedisStore(client, redis_prefix, timeout=1.0, coalesce=coalesce, clock=clock)
    rng = random.Random(4)
    denied: set[tuple[str, bool]] = set()  # (limit, after midnight) pairs that denied at least once
    for _ in range(400):
        hits = [
            Hit(spec, rng.choice(["a", "b"]), consume=rng.random() > 0.1)
            for spec in rng.sample(SPECS, rng.randint(1, len(SPECS)))
        ]
        outcomes = await shared.check(hits)
        assert outcomes == await memory.check(hits)
        denied.update((o.spec.id, clock() >= at(2026, 12, 1)) for o in outcomes if not o.allowed)
        clock.advance(rng.choice([0, 0, 0.01, 0.05, 0.3, 1.5]))
    assert {("ip", False), ("user", False), ("opd-month", False), ("opd-day", False), ("opd-day", True)} <= denied


async def test_coalesced_concurrent_checks_count_exactly(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    store = RedisStore(client, redis_prefix, timeout=1.0, coalesce=True)
    spec = LimitSpec(id="burst", per="ip", rate=1, period=3600, burst=30)
    outcomes = await asyncio.gather(*(store.check([Hit(spec, "10.0.0.1")]) for _ in range(100)))
    assert sum(outcome[0].allowed for outcome in outcomes) == 30


async def test_a_flushed_script_cache_is_reloaded(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    spec = LimitSpec(id="ip", per="ip", rate=1, period=60, burst=2)
    for coalesce in (True, False):
        store = RedisStore(client, redis_prefix + str(coalesce), timeout=1.0, coalesce=coalesce)
        assert (await store.check([Hit(spec, "a")]))[0].remaining == 1
        await client.script_flush()
        assert (await store.check([Hit(spec, "a")]))[0].remaining == 0


async def test_the_redis_clock_decides_when_no_clock_is_injected(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisStore(client, redis_prefix, timeout=1.0)
    spec = LimitSpec(id="ip", per="ip", rate=20, period=1, burst=2)
    outcomes = [(await store.check([Hit(spec, "a")]))[0] for _ in range(3)]
    assert [o.allowed for o in outcomes] == [True, True, False]
    assert 0 < outcomes[2].retry_after <= 0.05
    await asyncio.sleep(outcomes[2].retry_after + 0.005)
    assert (await store.check([Hit(spec, "a")]))[0].allowed
    daily = (await store.check([Hit(SPECS[2], "dinkes")]))[0]
    assert daily.window == 86_400 and 0 < daily.reset <= 86_400


async def test_keys_are_small_and_expire(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    store = RedisStore(client, redis_prefix, timeout=1.0)
    await store.check([Hit(SPECS[0], "10.0.0.1"), Hit(SPECS[2], "dinkes")])
    keys = sorted([key async for key in client.scan_iter(match=f"{redis_prefix}:*")])
    assert keys == [
        f"{redis_prefix}:rl:{{ip:10.0.0.1}}:gcra".encode(),
        f"{redis_prefix}:rl:{{opd-day:dinkes}}:day".encode(),
    ]
    ttls = [await client.pttl(key) for key in keys]
    assert 0 < ttls[0] <= 500 and 0 < ttls[1] <= 86_400_000
