"""What a running provider holds: settings, clock, database, key ring, password hasher.

Built once by ``create_app`` (or by the gateway, which shares it) and started in the lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    key_refresher: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        if not self.started:
            await self.keys.load()
            self.key_refresher = asyncio.create_task(self.keys.refresh_forever(self.settings.key_refresh_seconds))
            self.started = True

    async def close(self) -> None:
        if self.key_refresher is not None:
            self.key_refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.key_refresher
            self.key_refresher = None
        await self.engine.dispose()
        self.started = False


def build_context(settings: Settings, clock: Clock | None = None) -> IdpContext:
    clock = clock or SystemClock()
    engine = build_engine(settings.effective_database_url, settings.database_pool_size)
    sessionmaker = build_sessionmaker(engine)
    keys = KeyRing(sessionmaker, settings.effective_secret, settings.signing_alg, clock)
    policies = PolicyWatcher(settings.policy_dir or DEFAULT_POLICY_DIR)
    return IdpContext(settings, clock, engine, sessionmaker, keys, PasswordHashing(settings.hash_concurrency),
                      policies)
