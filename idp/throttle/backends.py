"""Choose the limit store for the process: in-process when no Redis is configured, else Redis with a local
fallback. Built once at start by whoever composes the app (the gateway, or the provider on its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from idp.throttle.breaker import Breaker
from idp.throttle.memory_store import MemoryStore
from idp.throttle.store import MicroClock, RedisTimeouts, system_clock_us

if TYPE_CHECKING:
    from idp.throttle.fallback_store import FallbackStore


def build_store(
    redis_url: str,
    prefix: str,
    timeouts: RedisTimeouts,
    *,
    coalesce: bool = True,
    breaker: Breaker | None = None,
    clock: MicroClock | None = None,
    stall_share: float = 0.5,
) -> MemoryStore | FallbackStore:
    """``clock`` replaces the Redis clock too; only tests pass one."""
    local = MemoryStore(prefix, clock or system_clock_us)
    if not redis_url:
        return local
    # redis-py (with its cluster and sentinel clients) is imported only when Redis is configured.
    from idp.throttle.fallback_store import FallbackStore
    from idp.throttle.redis_client import build_redis_client, is_cluster_url
    from idp.throttle.redis_store import RedisStore

    client = build_redis_client(redis_url, timeouts)
    primary = RedisStore(
        client,
        prefix,
        timeout=timeouts.socket,
        cluster=is_cluster_url(redis_url),
        coalesce=coalesce,
        clock=clock,
        stall_share=stall_share,
    )
    return FallbackStore(primary, local, breaker=breaker)
