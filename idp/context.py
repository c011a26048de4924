"""What a running provider holds: settings, clock, database, key ring, password hasher.

Built once by ``create_app`` (or by the gateway, which shares it) and started in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from idp.clock import Clock, SystemClock
from idp.dpop.replay import MemoryReplayStore, RedisReplayStore, build_replay_store
from idp.keys import KeyRing
from idp.passwords import PasswordHashing
from idp.settings import Settings
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.pruner import Pruner
from idp.throttle.backends import build_store
from idp.throttle.breaker import Breaker
from idp.throttle.memory_store import MemoryStore
from idp.throttle.store import RedisTimeouts
from policies.loader import DEFAULT_POLICY_DIR
from policies.watcher import PolicyWatcher

if TYPE_CHECKING:
    from idp.throttle.fallback_store import FallbackStore


@dataclass
class IdpContext:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keys: KeyRing
    passwords: PasswordHashing
    policies: PolicyWatcher  # Kominfo's rules; the gateway polls it for changes
    limits: MemoryStore | FallbackStore  # the process's one rate-limit store (Redis, or in-process)
    dpop_replay: MemoryReplayStore | RedisReplayStore = field(default_factory=MemoryReplayStore)  # proof jti, shared
    started: bool = field(default=False)
    key_refresher: asyncio.Task[None] | None = field(default=None, repr=False)
    pruner: Pruner | None = field(default=None, repr=False)  # expired rows; None: pruned by someone else

    async def start(self) -> None:
        if not self.started:
            await self.keys.load()
            await self.limits.start()
            self.key_refresher = asyncio.create_task(self.keys.refresh_forever(self.settings.key_refresh_seconds))
            if self.pruner is not None:
                self.pruner.start()
            self.started = True

    async def close(self) -> None:
        if self.key_refresher is not None:
            self.key_refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.key_refresher
            self.key_refresher = None
        if self.pruner is not None:
            await self.pruner.stop()
        await self.limits.close()
        if isinstance(self.dpop_replay, RedisReplayStore):
            await self.dpop_replay.close()
        await self.engine.dispose()
        self.started = False


def build_context(settings: Settings, clock: Clock | None = None) -> IdpContext:
    clock = clock or SystemClock()
    engine = build_engine(
        settings.effective_database_url,
        settings.database_pool_size,
        recycle_seconds=settings.database_recycle_seconds,
        ping_after_idle_seconds=settings.database_ping_after_idle_seconds,
    )
    sessionmaker = build_sessionmaker(engine)
    keys = KeyRing(sessionmaker, settings.effective_secret, settings.signing_alg, clock)
    policies = PolicyWatcher(settings.policy_dir or DEFAULT_POLICY_DIR)
    pruner = Pruner(engine, clock.now, settings.prune_seconds, settings.prune_batch, settings.prune_max_batches)
    return IdpContext(
        settings,
        clock,
        engine,
        sessionmaker,
        keys,
        PasswordHashing(settings.hash_concurrency),
        policies,
        build_limit_store(settings),
        build_dpop_replay_store(settings),
        pruner=pruner,
    )


def build_dpop_replay_store(settings: Settings) -> MemoryReplayStore | RedisReplayStore:
    timeouts = RedisTimeouts(
        settings.redis_socket_timeout, settings.redis_connect_timeout, settings.redis_max_connections
    )
    return build_replay_store(settings.redis_url, settings.redis_key_prefix, timeouts)


def build_limit_store(settings: Settings) -> MemoryStore | FallbackStore:
    """In-process without ``GERBANG_REDIS_URL``; else Redis (plain, Sentinel or Cluster) with a local fallback."""
    timeouts = RedisTimeouts(
        settings.redis_socket_timeout, settings.redis_connect_timeout, settings.redis_max_connections
    )
    breaker = Breaker(settings.ratelimit_breaker_backoff, settings.ratelimit_breaker_max_backoff)
    return build_store(
        settings.redis_url,
        settings.redis_key_prefix,
        timeouts,
        coalesce=settings.ratelimit_coalesce,
        breaker=breaker,
        stall_share=settings.ratelimit_stall_share,
    )
