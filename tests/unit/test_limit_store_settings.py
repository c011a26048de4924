"""The process's limit store is chosen from settings, and its timeouts always come from them."""

from __future__ import annotations

from gateway.ratelimit.store import describe_limit_store
from gateway.settings import Settings
from idp.context import build_limit_store
from idp.throttle.fallback_store import FallbackStore
from idp.throttle.memory_store import MemoryStore


async def test_no_redis_url_means_the_in_process_store() -> None:
    store = build_limit_store(Settings(redis_url=""))
    assert isinstance(store, MemoryStore)
    assert describe_limit_store(store) == {"store": "memory", "degraded": False}


async def test_a_redis_url_gets_the_configured_timeouts_and_a_local_fallback() -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", redis_socket_timeout=0.3, redis_connect_timeout=0.2, redis_key_prefix="city"
    )
    store = build_limit_store(settings)
    assert isinstance(store, FallbackStore) and isinstance(store.local, MemoryStore)
    kwargs = store.primary.client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.3, 0.2)
    assert store.primary.prefix == "city" and store.primary.timeout == 0.3
    assert describe_limit_store(store) == {"store": "redis", "degraded": False, "last_error": None}
    await store.close()
