"""Key rollover without surprises: a rotated-in key is in the JWKS before it signs anything.

A relying party that fetched the JWKS when the rotation happened, and keeps it for the cache lifetime, knows
every ``kid`` it meets. Storage is real (both backends); the clock is moved by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.settings import Settings
from idp.clock import FrozenClock
from idp.key_rotation import revoke_signing_key, rotate_signing_key
from idp.keys import KeyRing
from idp.settings import JWKS_MAX_AGE
from idp.storage.db import build_engine, build_sessionmaker

SECRET = "k" * 40
DELAY = 900


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    yield build_sessionmaker(engine)
    await engine.dispose()


def settings() -> Settings:
    return Settings(
        issuer="https://sso.palembang.go.id", secret_key=SECRET, key_activation_delay=DELAY, key_retire_after=86_400
    )


async def rotate(sessionmaker: async_sessionmaker[AsyncSession], clock: FrozenClock) -> str:
    async with sessionmaker() as session, session.begin():
        return (await rotate_signing_key(session, settings(), actor="uji", now=clock.now())).kid


def signed_kid(ring: KeyRing) -> str:
    return str(jwt.get_unverified_header(ring.sign({"sub": "x"}))["kid"])


def published(ring: KeyRing, alg: str = "ES256") -> list[str]:
    """The published keys of one algorithm (the primary is ES256; each other ID token algorithm has its own)."""
    return [key["kid"] for key in ring.jwks()["keys"] if key.get("alg") == alg and "gerbang_use" not in key]


def signed_kid_for(ring: KeyRing, alg: str) -> str:
    return str(jwt.get_unverified_header(ring.sign({"sub": "x"}, alg=alg))["kid"])


async def test_the_id_token_keys_of_other_algorithms_are_published_before_they_sign(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock()
    ring = KeyRing(
        sessionmaker, Settings(issuer="https://sso.palembang.go.id", secret_key=SECRET).effective_secret, "ES256", clock
    )
    await ring.load()
    for alg in ("PS256", "RS256", "EdDSA"):
        assert published(ring, alg) == [signed_kid_for(ring, alg)]
    await rotate(sessionmaker, clock)
    await ring.load()
    before = {}
    for alg in ("PS256", "RS256", "EdDSA"):
        before[alg] = signed_kid_for(ring, alg)
        assert len(published(ring, alg)) == 2 and before[alg] in published(ring, alg)  # next key out, old signs
    clock.advance(DELAY)  # no reload: each instance switches on time
    for alg in ("PS256", "RS256", "EdDSA"):
        assert signed_kid_for(ring, alg) != before[alg] and signed_kid_for(ring, alg) in published(ring, alg)


async def test_a_new_key_is_published_a_cache_lifetime_before_it_signs(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock()
    ring = KeyRing(sessionmaker, SECRET.encode(), "ES256", clock)
    await ring.load()
    old = signed_kid(ring)
    new = await rotate(sessionmaker, clock)
    await ring.load()
    cached_by_a_relying_party = published(ring)
    assert new in cached_by_a_relying_party and old in cached_by_a_relying_party
    for _ in range(3):  # up to the moment of activation, and without a reload at that moment
        assert signed_kid(ring) == old
        clock.advance(DELAY // 3 - 1)
    clock.advance(3)
    assert signed_kid(ring) == new  # the switch happens on time even between two reloads
    await ring.load()
    assert signed_kid(ring) == new and published(ring)[0] == new and old in published(ring)
    clock.advance(86_400 + 1)
    await ring.load()
    assert published(ring) == [new]


async def test_rotating_twice_keeps_one_signing_key_at_every_moment(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock()
    ring = KeyRing(sessionmaker, SECRET.encode(), "ES256", clock)
    await ring.load()
    first = signed_kid(ring)
    second = await rotate(sessionmaker, clock)
    clock.advance(10)
    third = await rotate(sessionmaker, clock)
    await ring.load()
    assert {first, second, third} <= set(published(ring))
    assert signed_kid(ring) == first
    clock.advance(DELAY - 10)
    await ring.load()
    assert signed_kid(ring) == second
    clock.advance(10)
    await ring.load()
    assert signed_kid(ring) == third


async def test_revoking_the_next_key_leaves_the_active_one_signing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock()
    ring = KeyRing(sessionmaker, SECRET.encode(), "ES256", clock)
    await ring.load()
    active = signed_kid(ring)
    upcoming = await rotate(sessionmaker, clock)
    async with sessionmaker() as session, session.begin():
        assert await revoke_signing_key(session, settings(), kid=upcoming, actor="uji", now=clock.now()) is None
    clock.advance(DELAY + 1)
    await ring.load()
    assert signed_kid(ring) == active and upcoming not in published(ring)


async def test_revoking_the_active_key_replaces_it_at_once(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """A leaked key cannot wait for a cache lifetime: revocation is the one immediate switch."""
    clock = FrozenClock()
    ring = KeyRing(sessionmaker, SECRET.encode(), "ES256", clock)
    await ring.load()
    leaked = signed_kid(ring)
    async with sessionmaker() as session, session.begin():
        replacement = await revoke_signing_key(session, settings(), kid=leaked, actor="uji", now=clock.now())
    assert replacement is not None
    await ring.load()
    assert signed_kid(ring) == replacement.kid and leaked not in published(ring)


def test_production_settings_refuse_an_activation_delay_shorter_than_the_jwks_cache() -> None:
    with pytest.raises(ValueError, match="key_activation_delay"):
        Settings(issuer="https://sso.palembang.go.id", secret_key=SECRET, key_activation_delay=JWKS_MAX_AGE - 1)
    assert Settings(issuer="https://sso.palembang.go.id", secret_key=SECRET).key_activation_delay >= JWKS_MAX_AGE
