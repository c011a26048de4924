"""Background loops keep running through an exception nobody planned for (idp.periodic's one error policy):
the revocation list and the route table, over a real database whose session factory breaks for a while."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.apps import add_app
from gateway.registry import AppRegistry
from gateway.revocations import RevokedTokens
from idp.clock import SystemClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import RevokedToken
from tests.support.eventually import eventually_async
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.hub_city import seed_opd

ISSUER = "http://127.0.0.1:8000"


class BreakingSessions:
    """The real session factory, except that while ``broken`` is above zero each call raises an exception no
    loop expects (not a database error) and counts ``broken`` down."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker, self.broken = maker, 0

    def __call__(self) -> Any:
        if self.broken > 0:
            self.broken -= 1
            raise LookupError("an exception no loop was written for")
        return self.maker()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[BreakingSessions]:
    engine = build_engine(database_url)
    maker = build_sessionmaker(engine)
    await seed_opd(maker, int(time.time()))
    yield BreakingSessions(maker)
    await engine.dispose()


async def test_the_revocation_list_keeps_refreshing_after_an_unexpected_exception(sessions: BreakingSessions) -> None:
    revoked = RevokedTokens(sessions, SystemClock(), refresh_seconds=0.02)  # type: ignore[arg-type]
    await revoked.start()
    try:
        sessions.broken = 3
        await eventually_async(lambda: sessions.broken == 0)
        async with sessions.maker() as session, session.begin():
            session.add(RevokedToken(jti="revoked-later", expires_at=int(time.time()) + 600))
        await eventually_async(lambda: revoked.is_revoked("revoked-later"), timeout=10)
        assert revoked.loop.failures == 3
    finally:
        await revoked.stop()


async def test_the_route_table_keeps_refreshing_after_an_unexpected_exception(sessions: BreakingSessions) -> None:
    registry = AppRegistry(
        sessions,
        ISSUER,
        SystemClock(),
        refresh_seconds=0.02,  # type: ignore[arg-type]
        addresses=TEST_UPSTREAM_ADDRESSES,
    )
    await registry.start()
    try:
        sessions.broken = 3
        await eventually_async(lambda: sessions.broken == 0)
        async with sessions.maker() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="parkir",
                opd_slug="dishub",
                upstreams=("http://127.0.0.1:9001",),
                auth_mode="session",
                issuer=ISSUER,
                now=int(time.time()),
            )
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/") is not None, timeout=10)
        assert registry.loop.failures == 3
    finally:
        await registry.stop()
