"""What a running provider holds: settings, clock, database, key ring, password hasher.

Built once by ``create_app`` (or by the gateway, which shares it) and started in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from idp.clock import Clock, SystemClock
from idp.keys import KeyRing
from idp.passwords import PasswordHashing
from idp.settings import Settings
from idp.storage.db import build_engine, build_sessionmaker
from policies.loader import DEFAULT_POLICY_DIR
from policies.watcher import PolicyWatcher


@dataclass
class IdpContext:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keys: KeyRing
    passwords: PasswordHashing
    policies: PolicyWatcher  # Kominfo's rules; the gateway polls it for changes
    started: bool = field(default=False)
    _key_refresh: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        if not self.started:
            await self.keys.load()
            # Other instances (and `gerbang keys rotate`) change the ring: poll it.
            self._key_refresh = asyncio.create_task(self.keys.refresh_forever(self.settings.keys_refresh_seconds),
                                                    name="gerbang-key-refresh")
            self.started = True

    async def close(self) -> None:
        if self._key_refresh is not None:
            self._key_refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_refresh
            self._key_refresh = None
        await self.engine.dispose()
        self.started = False


def build_context(settings: Settings, clock: Clock | None = None) -> IdpContext:
    clock = clock or SystemClock()
    engine = build_engine(settings.effective_database_url, settings.database_pool_size)
    sessionmaker = build_sessionmaker(engine)
    # Publish before sign: twice the poll interval, so every instance has the new public key first.
    keys = KeyRing(sessionmaker, settings.effective_secret, settings.signing_alg, clock,
                   activation_delay=math.ceil(2 * settings.keys_refresh_seconds))
    policies = PolicyWatcher(settings.policy_dir or DEFAULT_POLICY_DIR)
    return IdpContext(settings, clock, engine, sessionmaker, keys, PasswordHashing(settings.hash_concurrency),
                      policies)
