"""The limit store on Redis Sentinel and Redis Cluster URLs, against real processes of the test's own."""

from __future__ import annotations

from pathlib import Path

from idp.throttle.backends import build_store
from idp.throttle.fallback_store import FallbackStore
from idp.throttle.redis_client import RedisTimeouts
from idp.throttle.store import Hit
from policies.limits import LimitSpec
from tests.support.redis_process import own_cluster, own_redis, own_sentinel

PER_IP = LimitSpec(id="ip", per="ip", rate=1, period=3600, burst=3)
DAILY = LimitSpec(id="opd-day", per="opd", window="day", quota=4)
TIMEOUTS = RedisTimeouts(2.0, 2.0)  # a cluster client's first call discovers every node: room on a busy machine


async def spend(store: FallbackStore, times: int) -> list[list[bool]]:
    answers = []
    for _ in range(times):
        outcomes = await store.check([Hit(PER_IP, "10.0.0.1"), Hit(DAILY, "dinkes"), Hit(PER_IP, "10.0.0.2")])
        answers.append([outcome.allowed for outcome in outcomes])
    return answers


async def test_sentinel_url_finds_the_master(tmp_path: Path, redis_prefix: str) -> None:
    with own_redis() as master, own_sentinel(master, tmp_path) as sentinel:
        store = build_store(f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0", redis_prefix, TIMEOUTS)
        assert isinstance(store, FallbackStore)
        try:
            assert await spend(store, 4) == [[True] * 3] * 3 + [[False, True, False]]
            assert not store.degraded
        finally:
            await store.close()


async def test_cluster_url_spreads_limits_over_the_nodes(tmp_path: Path, redis_prefix: str) -> None:
    with own_cluster(tmp_path) as nodes:
        url = "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in nodes[:2])
        store = build_store(url, redis_prefix, TIMEOUTS)
        assert isinstance(store, FallbackStore)
        await store.start()
        try:
            # Each limit is atomic on its own node; across nodes a denied request still consumed the quota.
            answers = await spend(store, 5)
            assert store.last_error is None
            assert answers == [[True] * 3] * 3 + [[False, True, False], [False, False, False]]
            assert not store.degraded, store.last_error
            await store.primary.client.script_flush()  # type: ignore[union-attr]
            assert (await store.check([Hit(PER_IP, "10.0.0.3")]))[0].allowed  # NOSCRIPT reloads on every node
        finally:
            await store.close()
