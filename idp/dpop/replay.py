"""RFC 9449 §11.1: a proof's ``jti`` is accepted once, across every instance.

``ReplayStore.first_use(key, ttl)`` is one ``SET key 1 NX EX ttl`` in Redis (shared by all instances). Without
Redis, or while Redis does not answer, the in-process store decides: a replay to the same instance is still
caught, one to another instance only within the proof's short ``iat`` window (the documented fallback, as for
the rate limits).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

log = logging.getLogger("gerbang.dpop")


class ReplayStore(Protocol):
    async def first_use(self, key: str, ttl: int) -> bool: ...


class MemoryReplayStore:
    def __init__(self, max_entries: int = 200_000) -> None:
        self._seen: dict[str, float] = {}
        self._max = max_entries

    async def first_use(self, key: str, ttl: int) -> bool:
        now = time.monotonic()
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        if len(self._seen) >= self._max:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        self._seen[key] = now + ttl
        return True


class RedisReplayStore:
    def __init__(self, client: Any, prefix: str, fallback: MemoryReplayStore) -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = fallback

    async def first_use(self, key: str, ttl: int) -> bool:
        local = await self._fallback.first_use(key, ttl)  # also remembered here, for when Redis is away
        try:
            stored = await self._client.set(f"{self._prefix}:dpop:{key}", b"1", nx=True, ex=max(1, ttl))
        except Exception as exc:  # redis-py's errors and OSError: fall back, never fail the request
            log.warning("DPoP replay store unavailable, in-process fallback: %s", exc)
            return local
        return bool(stored) and local

    async def close(self) -> None:
        await self._client.aclose()


def build_replay_store(redis_url: str, prefix: str, timeouts: Any) -> MemoryReplayStore | RedisReplayStore:
    local = MemoryReplayStore()
    if not redis_url:
        return local
    from idp.throttle.redis_client import build_redis_client

    return RedisReplayStore(build_redis_client(redis_url, timeouts), prefix, local)
