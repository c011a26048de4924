"""The provider's client cache: requests that miss it at the same moment share one database read."""

from __future__ import annotations

import asyncio

from sqlalchemy import event

from idp.clients import add_client
from idp.oauth.store import ClientCache
from idp.storage.db import build_engine, build_sessionmaker

NOW = 1_800_000_000


async def test_concurrent_misses_share_one_read_and_a_request_that_leaves_does_not_fail_the_rest(
    database_url: str,
) -> None:
    engine = build_engine(database_url)
    reads: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_rest: reads.append(statement) if "FROM clients" in statement else None,
    )
    try:
        maker = build_sessionmaker(engine)
        async with maker() as session, session.begin():
            await add_client(session, name="Bapenda", client_id="bapenda", grant_types=("client_credentials",), now=NOW)
        reads.clear()  # the seeding's own queries
        cache = ClientCache(maker)

        leaving = asyncio.ensure_future(cache.get_many({"bapenda", "nobody"}))
        await asyncio.sleep(0)  # its read has started
        others = [asyncio.ensure_future(cache.get_many({"bapenda", "nobody"})) for _ in range(49)]
        leaving.cancel()
        answers = await asyncio.gather(*others)

        assert len(reads) == 1  # 50 requests, one read: no stampede on the database when an entry expires
        assert all(set(found) == {"bapenda"} for found in answers)  # an unknown id is cached as unknown too
        assert leaving.cancelled()
        assert set(await cache.get_many({"bapenda"})) == {"bapenda"}
        assert len(reads) == 1  # then served from memory
    finally:
        await engine.dispose()
