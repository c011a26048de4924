"""Bearer authentication with roles from the directory: memberships, disabled accounts, the TTL cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.authenticate import BearerAuthenticator
from gateway.errors import ServiceUnavailable, Unauthenticated
from gateway.jwks import local_keys_from_ring
from gateway.model import RequestHead, Route
from gateway.subjects import SubjectDirectory
from gateway.token_verifier import TokenVerifier
from idp.accounts import add_user
from idp.clock import FrozenClock, SystemClock
from idp.keys import KeyRing
from idp.org import load_opd
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import Membership, User
from tests.support.hub_city import SECRET, seed_opd
from tests.support.hub_tokens import ISSUER, RESOURCE, TestKey, access_claims, key_source

ROUTE = Route(
    slug="parkir",
    opd="dishub",
    opd_path="/kota-palembang/dishub/",
    upstreams=("http://127.0.0.1:1",),
    auth_mode="bearer",
    resource=RESOURCE,
)


@pytest.fixture
async def maker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    sessionmaker = build_sessionmaker(engine)
    await seed_opd(sessionmaker, int(time.time()))
    yield sessionmaker
    await engine.dispose()


async def _user(
    maker: async_sessionmaker[AsyncSession], email: str, opd: str | None = None, roles: tuple[str, ...] = ()
) -> str:
    async with maker() as session, session.begin():
        user = await add_user(
            session, email=email, name="Test", password_hash=None, now=int(time.time()), opd_slug=opd, roles=roles
        )
        return user.id


def _request(token: str) -> RequestHead:
    return RequestHead(
        method="GET",
        path="/apps/parkir/",
        query=b"",
        headers=((b"authorization", f"Bearer {token}".encode()),),
        client_ip="127.0.0.1",
        scheme="http",
        host="127.0.0.1",
        request_id="r1",
    )


async def test_principal_carries_opd_and_roles_from_memberships(maker: async_sessionmaker[AsyncSession]) -> None:
    asn = await _user(maker, "petugas@dishub.example", "dishub", ("petugas", "supervisor"))
    async with maker() as session, session.begin():  # a second unit
        session.add(Membership(user_id=asn, opd_id=(await load_opd(session, "bpkad")).id, role="auditor"))
    ring = KeyRing(maker, SECRET.encode(), "ES256", SystemClock())
    await ring.load()
    verifier = TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock())
    authenticator = BearerAuthenticator(verifier, SubjectDirectory(maker, SystemClock()))
    token = ring.sign(access_claims(int(time.time()), sub=asn), typ="at+jwt")
    principal = await authenticator.authenticate(ROUTE, _request(token))
    assert principal.sub == asn
    assert principal.opd == "dishub"
    assert set(principal.roles) == {"petugas", "supervisor", "auditor"}
    assert principal.opd_paths == ("/kota-palembang/dishub/", "/kota-palembang/bpkad/")


async def test_citizen_has_no_opd(maker: async_sessionmaker[AsyncSession]) -> None:
    warga = await _user(maker, "warga@example.id")
    subject = await SubjectDirectory(maker, SystemClock()).load(warga)
    assert subject is not None
    assert (subject.opd, subject.opd_paths, subject.roles, subject.disabled) == (None, (), (), False)


async def test_unknown_and_disabled_users_are_refused(maker: async_sessionmaker[AsyncSession]) -> None:
    ring = KeyRing(maker, SECRET.encode(), "ES256", SystemClock())
    await ring.load()
    authenticator = BearerAuthenticator(
        TokenVerifier(local_keys_from_ring(ring), ISSUER, SystemClock()), SubjectDirectory(maker, SystemClock())
    )
    ghost = ring.sign(access_claims(int(time.time()), sub="no-such-user"), typ="at+jwt")
    with pytest.raises(Unauthenticated, match="does not exist"):
        await authenticator.authenticate(ROUTE, _request(ghost))
    warga = await _user(maker, "warga@example.id")
    async with maker() as session, session.begin():
        await session.execute(update(User).where(User.id == warga).values(disabled=True))
    disabled = ring.sign(access_claims(int(time.time()), sub=warga), typ="at+jwt")
    with pytest.raises(Unauthenticated, match="disabled"):
        await authenticator.authenticate(ROUTE, _request(disabled))


async def test_stale_subject_is_served_once_then_reloaded(maker: async_sessionmaker[AsyncSession]) -> None:
    asn = await _user(maker, "petugas@dishub.example", "dishub", ("petugas",))
    clock = FrozenClock()
    directory = SubjectDirectory(maker, clock, ttl=60)
    assert (await directory.load(asn)).roles == ("petugas",)  # type: ignore[union-attr]
    async with maker() as session, session.begin():
        session.add(Membership(user_id=asn, opd_id=(await load_opd(session, "dishub")).id, role="kepala"))
    assert (await directory.load(asn)).roles == ("petugas",)  # type: ignore[union-attr]  # still fresh
    clock.advance(60)
    assert (await directory.load(asn)).roles == ("petugas",)  # type: ignore[union-attr]  # stale, reload started
    deadline = time.monotonic() + 5
    while (await directory.load(asn)).roles != ("petugas", "kepala"):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the background reload did not land"
        await asyncio.sleep(0.02)


async def test_subject_cache_is_bounded(maker: async_sessionmaker[AsyncSession]) -> None:
    directory = SubjectDirectory(maker, SystemClock(), size=2)
    ids = [await _user(maker, f"w{i}@example.id") for i in range(4)]
    for user_id in ids:
        await directory.load(user_id)
    assert len(directory._cache) == 2  # noqa: SLF001 - the bound is the behaviour under test


async def test_directory_outage_is_503_not_a_crash() -> None:
    engine = build_engine("postgresql+asyncpg://nobody@127.0.0.1:1/gone")
    try:
        key = TestKey()
        verifier = TokenVerifier(key_source(key), ISSUER, SystemClock())
        authenticator = BearerAuthenticator(verifier, SubjectDirectory(build_sessionmaker(engine), SystemClock()))
        with pytest.raises(ServiceUnavailable):
            await authenticator.authenticate(ROUTE, _request(key.sign(access_claims(int(time.time()), sub="u1"))))
    finally:
        await engine.dispose()
