"""KeyRing picks up rotations made by another process: periodically, and at once (rate-limited) for an unknown kid."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from idp.clock import SystemClock
from idp.keys import KeyRing, rotate_keys
from idp.oauth.verify import TokenInvalid, verify_hub_jwt, verify_hub_jwt_reloading
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.eventually import eventually_async

SECRET = b"k" * 40
ISSUER = "http://127.0.0.1:9"


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    yield build_sessionmaker(engine)
    await engine.dispose()


async def rotate_elsewhere(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """What ``gerbang keys rotate`` does from another process: only storage changes."""
    async with sessionmaker() as session, session.begin():
        return (await rotate_keys(session, "ES256", SECRET, int(time.time()), 3600)).kid


async def loaded_ring(sessionmaker: async_sessionmaker[AsyncSession]) -> KeyRing:
    ring = KeyRing(sessionmaker, SECRET, "ES256", SystemClock())
    await ring.load()
    return ring


def token(ring: KeyRing, now: int, ttl: int = 60) -> str:
    return ring.sign({"iss": ISSUER, "sub": "u", "iat": now, "nbf": now, "exp": now + ttl}, typ="at+jwt")


async def test_unknown_kid_reloads_once_then_rate_limits(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    ring = await loaded_ring(sessionmaker)
    signer = await loaded_ring(sessionmaker)
    new_kid = await rotate_elsewhere(sessionmaker)
    await signer.load()
    assert signer.active.kid == new_kid and ring.public_key(new_kid) is None

    claims = await verify_hub_jwt_reloading(ring, token(signer, int(time.time())), ISSUER, typ="at+jwt")
    assert claims["sub"] == "u" and ring.active.kid == new_kid

    # Within the interval a second unknown kid does not reach storage: a flood of made-up kids costs one load.
    newer_kid = await rotate_elsewhere(sessionmaker)
    assert await ring.reload_for_unknown_kid(newer_kid) is False
    assert ring.public_key(newer_kid) is None
    await signer.load()
    with pytest.raises(TokenInvalid):
        await verify_hub_jwt_reloading(ring, token(signer, int(time.time())), ISSUER, typ="at+jwt")


async def test_concurrent_unknown_kids_share_one_reload(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    ring = await loaded_ring(sessionmaker)
    new_kid = await rotate_elsewhere(sessionmaker)
    results = await asyncio.gather(*(ring.reload_for_unknown_kid(new_kid) for _ in range(5)))
    assert results == [True] * 5


async def test_periodic_refresh_picks_up_a_rotation(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    ring = await loaded_ring(sessionmaker)
    old_kid = ring.active.kid
    refresher = asyncio.create_task(ring.refresh_forever(0.05))
    try:
        new_kid = await rotate_elsewhere(sessionmaker)
        await eventually_async(lambda: ring.active.kid == new_kid, timeout=10)
    finally:
        refresher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await refresher
    assert [key["kid"] for key in ring.jwks()["keys"] if key["alg"] == "ES256" and "gerbang_use" not in key] == [
        new_kid,
        old_kid,
    ]


async def test_times_are_checked_against_the_given_clock(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    ring = await loaded_ring(sessionmaker)
    later = int(time.time()) + 10_000  # a provider clock far from the system clock
    issued = token(ring, later, ttl=60)
    assert verify_hub_jwt(ring, issued, ISSUER, typ="at+jwt", now=later + 30)["iat"] == later
    with pytest.raises(TokenInvalid):
        verify_hub_jwt(ring, issued, ISSUER, typ="at+jwt", now=later + 66)
    with pytest.raises(TokenInvalid):
        verify_hub_jwt(ring, issued, ISSUER, typ="at+jwt", now=later - 30)  # not yet valid
    assert verify_hub_jwt(ring, issued, ISSUER, typ="at+jwt", now=later + 66, verify_exp=False)["sub"] == "u"
