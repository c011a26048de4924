"""The DPoP jti replay store (RFC 9449 §11.1) is shared by every instance through Redis, and falls back to the
process when Redis does not answer."""

from __future__ import annotations

import uuid

import pytest

from idp.dpop.replay import MemoryReplayStore, RedisReplayStore, build_replay_store
from idp.throttle.store import RedisTimeouts

TIMEOUTS = RedisTimeouts(0.25, 0.25, 8)


async def test_a_jti_seen_by_one_instance_is_a_replay_at_another(redis_url: str, redis_prefix: str) -> None:
    first, second = (build_replay_store(redis_url, redis_prefix, TIMEOUTS) for _ in range(2))
    assert isinstance(first, RedisReplayStore) and isinstance(second, RedisReplayStore)
    try:
        key = f"jkt:{uuid.uuid4().hex}"
        assert await first.first_use(key, 60) is True
        assert await second.first_use(key, 60) is False
        assert await first.first_use(key, 60) is False
        assert await second.first_use(f"jkt:{uuid.uuid4().hex}", 60) is True
    finally:
        await first.close()
        await second.close()


async def test_without_redis_the_process_still_refuses_replays() -> None:
    store = build_replay_store("redis://127.0.0.1:1/0", "gerbang-test", TIMEOUTS)  # nothing listens there
    assert isinstance(store, RedisReplayStore)
    try:
        assert await store.first_use("jkt:a", 60) is True
        assert await store.first_use("jkt:a", 60) is False
    finally:
        await store.close()


@pytest.mark.parametrize("ttl", [1, 60])
async def test_memory_store_refuses_a_second_use_within_ttl(ttl: int) -> None:
    store = MemoryReplayStore()
    assert await store.first_use("k", ttl) and not await store.first_use("k", ttl)
