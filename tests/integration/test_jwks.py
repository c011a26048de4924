"""The gateway as a relying party: hub keys from a real JWKS endpoint, or from the key ring in-process."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.jwks import RemoteJwks, local_keys_from_ring
from gateway.token_verifier import InvalidToken, TokenVerifier
from idp.clock import SystemClock
from idp.key_rotation import revoke_signing_key
from idp.keys import KeyRing, rotate_keys
from idp.settings import Settings
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry
from tests.support.hub_city import SECRET, JwksServer
from tests.support.hub_tokens import ISSUER, RESOURCE, TestKey, access_claims
from tests.support.server import run_server


@pytest.fixture
def published() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def jwks_server(published: list[dict[str, Any]]) -> Iterator[tuple[JwksServer, str]]:
    server = JwksServer(lambda: {"keys": list(published)})
    with run_server(server.app) as base:
        yield server, f"{base}/jwks"


async def test_remote_keys_are_fetched_once_and_cached(
    jwks_server: tuple[JwksServer, str], published: list[dict[str, Any]]
) -> None:
    server, url = jwks_server
    key = TestKey("k1")
    published.append(key.jwk)
    source = RemoteJwks(url, min_refresh_seconds=0.2)
    verifier = TokenVerifier(source, ISSUER, SystemClock(), cache_size=0)
    for _ in range(3):
        await verifier.verify(key.sign(access_claims(int(time.time()))), RESOURCE)
    assert server.fetches == 1


async def test_unknown_kid_refetches_after_rotation(
    jwks_server: tuple[JwksServer, str], published: list[dict[str, Any]]
) -> None:
    server, url = jwks_server
    old, new = TestKey("old"), TestKey("new")
    published.append(old.jwk)
    verifier = TokenVerifier(RemoteJwks(url, min_refresh_seconds=0.1), ISSUER, SystemClock())
    await verifier.verify(old.sign(access_claims(int(time.time()))), RESOURCE)
    published.append(new.jwk)  # the hub rotated
    await asyncio.sleep(0.15)
    claims = await verifier.verify(new.sign(access_claims(int(time.time()))), RESOURCE)
    assert claims.sub == "user-1"
    assert server.fetches == 2


async def test_kid_spray_does_not_cause_unbounded_refetches(
    jwks_server: tuple[JwksServer, str], published: list[dict[str, Any]]
) -> None:
    server, url = jwks_server
    published.append(TestKey("k1").jwk)
    verifier = TokenVerifier(RemoteJwks(url, min_refresh_seconds=30), ISSUER, SystemClock())
    attacker = TestKey("k1")
    tokens = []
    for _ in range(200):
        attacker.kid = secrets.token_hex(8)
        tokens.append(attacker.sign(access_claims(int(time.time()))))
    results = await asyncio.gather(*(verifier.verify(t, RESOURCE) for t in tokens), return_exceptions=True)
    assert all(isinstance(result, InvalidToken) for result in results)
    assert server.fetches == 1


async def test_hub_outage_keeps_the_cached_keys(published: list[dict[str, Any]]) -> None:
    key = TestKey("k1")
    published.append(key.jwk)
    server = JwksServer(lambda: {"keys": list(published)})
    with run_server(server.app) as base:
        source = RemoteJwks(f"{base}/jwks", min_refresh_seconds=0.01, max_age_seconds=0.05, timeout=0.5)
        verifier = TokenVerifier(source, ISSUER, SystemClock(), cache_size=0)
        await verifier.verify(key.sign(access_claims(int(time.time()))), RESOURCE)
    await asyncio.sleep(0.1)  # the keys are now stale and the hub is gone
    claims = await verifier.verify(key.sign(access_claims(int(time.time()))), RESOURCE)
    assert claims.sub == "user-1"


async def test_private_and_foreign_keys_in_the_jwks_are_ignored(
    jwks_server: tuple[JwksServer, str], published: list[dict[str, Any]]
) -> None:
    _server, url = jwks_server
    hmac_like = {"kty": "oct", "kid": "sym", "alg": "HS256", "k": "c2VjcmV0"}
    mismatched = dict(TestKey("rsa-as-ec", "RS256").jwk, alg="ES256")
    published.extend([hmac_like, mismatched])
    source = RemoteJwks(url)
    assert await source.key("sym", "HS256") is None
    assert await source.key("rsa-as-ec", "ES256") is None


@pytest.fixture
async def key_ring(database_url: str) -> AsyncIterator[tuple[KeyRing, async_sessionmaker[AsyncSession]]]:
    engine = build_engine(database_url)
    maker = build_sessionmaker(engine)
    ring = KeyRing(maker, SECRET.encode(), "ES256", SystemClock())
    await ring.load()
    yield ring, maker
    await engine.dispose()


async def test_hub_signed_access_token_verifies_through_its_published_jwks(
    key_ring: tuple[KeyRing, async_sessionmaker[AsyncSession]],
) -> None:
    ring, _ = key_ring
    server = JwksServer(ring.jwks)
    with run_server(server.app) as base:
        verifier = TokenVerifier(RemoteJwks(f"{base}/jwks"), ISSUER, SystemClock())
        token = ring.sign(access_claims(int(time.time())), typ="at+jwt")
        assert (await verifier.verify(token, RESOURCE)).sub == "user-1"


async def test_in_process_key_ring_reloads_on_a_key_rotated_elsewhere(
    key_ring: tuple[KeyRing, async_sessionmaker[AsyncSession]], database_url: str
) -> None:
    gateway_ring, maker = key_ring
    verifier = TokenVerifier(local_keys_from_ring(gateway_ring, min_refresh_seconds=0.01), ISSUER, SystemClock())
    async with maker() as session, session.begin():  # another instance runs `gerbang keys rotate`
        await rotate_keys(session, "ES256", SECRET.encode(), int(time.time()), 3600)
    other_instance = KeyRing(maker, SECRET.encode(), "ES256", SystemClock())
    await other_instance.load(create_if_missing=False)
    assert other_instance.active.kid != gateway_ring.active.kid
    token = other_instance.sign(access_claims(int(time.time())), typ="at+jwt")
    assert (await verifier.verify(token, RESOURCE)).sub == "user-1"


async def test_key_withdrawn_from_the_ring_stops_verifying(
    key_ring: tuple[KeyRing, async_sessionmaker[AsyncSession]],
) -> None:
    ring, maker = key_ring
    verifier = TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock(), cache_size=0)
    now = int(time.time())
    before, after = (ring.sign(access_claims(now), typ="at+jwt") for _ in range(2))
    await verifier.verify(before, RESOURCE)
    async with maker() as session, session.begin():  # retire it with no grace period (a compromised key)
        await rotate_keys(session, "ES256", SECRET.encode(), now, retire_after=-1)
    await ring.load()
    with pytest.raises(InvalidToken):
        await verifier.verify(after, RESOURCE)


async def test_a_revoked_key_stops_verifying_tokens_the_gateway_remembers(
    key_ring: tuple[KeyRing, async_sessionmaker[AsyncSession]], database_url: str, tmp_path: Path
) -> None:
    """`gerbang keys revoke` of the active key (it may have leaked): a new key signs at once, and a token the
    gateway had verified and cached stops verifying once the ring reloads (every instance's key refresh)."""
    ring, maker = key_ring
    verifier = TokenVerifier(local_keys_from_ring(ring, min_refresh_seconds=0.01), ISSUER, SystemClock())
    now = int(time.time())
    leaked = ring.active.kid
    token = ring.sign(access_claims(now), typ="at+jwt")
    assert (await verifier.verify(token, RESOURCE)).kid == leaked
    assert verifier.cached == 1
    settings = Settings(database_url=database_url, secret_key=SECRET, data_dir=tmp_path)
    async with maker() as session, session.begin():
        replacement = await revoke_signing_key(session, settings, kid=leaked, actor="cli:test", now=now)
    assert replacement is not None and replacement.kid != leaked
    await ring.load()
    assert ring.active.kid == replacement.kid
    assert leaked not in [key["kid"] for key in ring.jwks()["keys"]]
    with pytest.raises(InvalidToken, match="not signed by a key of this hub"):
        await verifier.verify(token, RESOURCE)
    fresh = ring.sign(access_claims(now), typ="at+jwt")
    assert (await verifier.verify(fresh, RESOURCE)).kid == replacement.kid
    async with maker() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "keys.revoke"))).all()
    assert [(entry.target, entry.actor) for entry in entries] == [(f"key:{leaked}", "cli:test")]


async def test_a_remote_jwks_that_drops_a_key_stops_the_remembered_tokens_it_signed(
    jwks_server: tuple[JwksServer, str], published: list[dict[str, Any]]
) -> None:
    _server, url = jwks_server
    leaked, fresh = TestKey("leaked"), TestKey("fresh")
    published.append(leaked.jwk)
    verifier = TokenVerifier(RemoteJwks(url, min_refresh_seconds=0.05), ISSUER, SystemClock())
    now = int(time.time())
    old_token = leaked.sign(access_claims(now))
    await verifier.verify(old_token, RESOURCE)
    published[:] = [fresh.jwk]  # the hub revoked `leaked`; the next token names the new key, so the set is fetched
    await asyncio.sleep(0.06)
    await verifier.verify(fresh.sign(access_claims(now)), RESOURCE)
    with pytest.raises(InvalidToken):
        await verifier.verify(old_token, RESOURCE)
