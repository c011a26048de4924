"""The token endpoint's client cache stays bounded when requests name client ids that do not exist."""

from __future__ import annotations

import asyncio
import uuid

from idp.oauth.store import ClientCache
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.hub import seed


def test_unknown_client_ids_do_not_grow_the_cache_past_its_bound(database_url: str) -> None:
    seeded = asyncio.run(seed(database_url))
    known = seeded.clients["Portal Kominfo"][0]

    async def flood() -> tuple[int, bool]:
        engine = build_engine(database_url)
        cache = ClientCache(build_sessionmaker(engine), max_entries=50)
        try:
            largest = 0
            for _ in range(40):
                await cache.get_many({uuid.uuid4().hex for _ in range(10)})  # 400 unknown ids in all
                largest = max(largest, len(cache))
            return largest, known in await cache.get_many({known})
        finally:
            await engine.dispose()

    largest, found = asyncio.run(flood())
    assert largest <= 50
    assert found  # a real client is still found (and cached) afterwards
