"""The process's limit store, from settings: in-process without ``GERBANG_REDIS_URL``, else Redis (plain,
Sentinel or Cluster: see ``throttle.redis_client``) with the local fallback. Build it once at start, hand the
same store to ``GatewayLimiter`` and to the provider's ``AuthLimiter``, close it at shutdown."""

from __future__ import annotations

from gateway.settings import Settings
from throttle.backends import build_store
from throttle.fallback_store import Breaker, FallbackStore
from throttle.memory_store import MemoryStore
from throttle.redis_client import RedisTimeouts


def build_limit_store(settings: Settings) -> MemoryStore | FallbackStore:
    timeouts = RedisTimeouts(settings.redis_socket_timeout, settings.redis_connect_timeout,
                             settings.redis_max_connections)
    breaker = Breaker(settings.ratelimit_breaker_backoff, settings.ratelimit_breaker_max_backoff)
    return build_store(settings.redis_url, settings.redis_key_prefix, timeouts,
                       coalesce=settings.ratelimit_coalesce, breaker=breaker)


def describe_limit_store(store: MemoryStore | FallbackStore) -> dict[str, object]:
    """For the /readyz detail: which store decides, and whether it is degraded to local limits."""
    if isinstance(store, MemoryStore):
        return {"store": "memory", "degraded": False}
    return {"store": "redis", "degraded": store.degraded, "last_error": store.last_error if store.degraded else None}
