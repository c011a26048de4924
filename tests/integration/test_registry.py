"""The route table over a real database: lookups, and running instances picking up changes without restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.apps import add_app, set_app_status
from gateway.registry import AppRegistry
from idp.clock import FrozenClock
from idp.errors import InvalidInput
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.eventually import eventually_async
from tests.support.hub import TEST_UPSTREAM_ADDRESSES
from tests.support.hub_city import seed_opd

ISSUER = "http://127.0.0.1:8000"
NOW = 1_800_000_000


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    maker = build_sessionmaker(engine)
    await seed_opd(maker, NOW)
    yield maker
    await engine.dispose()


async def _add(maker: async_sessionmaker[AsyncSession], slug: str, now: int = NOW, **options: object) -> None:
    async with maker() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug=slug,
            opd_slug=str(options.pop("opd", "dishub")),
            upstreams=("http://127.0.0.1:9001",),
            auth_mode=str(options.pop("auth", "session")),
            issuer=ISSUER,
            now=now,
            **options,
        )  # type: ignore[arg-type]


async def _suspend(maker: async_sessionmaker[AsyncSession], slug: str, now: int) -> None:
    async with maker() as session, session.begin():
        await set_app_status(session, slug, "suspended", now, ISSUER)


async def test_lookup_by_the_apps_own_host(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessionmaker, "parkir")
    registry = AppRegistry(sessionmaker, ISSUER, FrozenClock(NOW), addresses=TEST_UPSTREAM_ADDRESSES)
    await registry.load()
    route, path = registry.lookup("parkir.localhost", "/tiket/1") or (None, None)
    assert route is not None and path == "/tiket/1"
    assert (route.opd, route.opd_path, route.auth_mode, route.status) == (
        "dishub",
        "/kota-palembang/dishub/",
        "session",
        "active",
    )
    assert route.upstreams == ("http://127.0.0.1:9001",)
    assert route.resource == "http://parkir.localhost:8000/"
    assert route.hosts == ("parkir.localhost",)
    assert registry.lookup("PARKIR.localhost.:8000", "")[1] == "/"  # type: ignore[index]
    # The hub's old path addresses never route: only the app's own origin does.
    for host, path in (
        ("127.0.0.1", "/apps/parkir/"),
        ("x", "/apps/parkir/"),
        ("parkir-x.localhost", "/"),
        ("parkir.localhost.evil", "/"),
        ("localhost", "/"),
    ):
        assert registry.lookup(host, path) is None
    assert registry.find_slug("parkir") is route and registry.find_slug("nope") is None


async def test_the_apps_domain_setting_decides_the_default_host(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessionmaker, "parkir")
    registry = AppRegistry(
        sessionmaker, "https://gerbang.palembang.go.id", FrozenClock(NOW), apps_domain="apps.palembang.go.id"
    )
    await registry.load()
    route, _ = registry.lookup("parkir.apps.palembang.go.id", "/") or (None, None)
    assert route is not None and route.resource == "https://parkir.apps.palembang.go.id/"


async def test_lookup_by_host_and_explicit_resource(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessionmaker, "cctv", hosts=("cctv.dishub.example",), resource="https://cctv.dishub.example/")
    registry = AppRegistry(sessionmaker, ISSUER, FrozenClock(NOW), addresses=TEST_UPSTREAM_ADDRESSES)
    await registry.load()
    found = registry.lookup("CCTV.dishub.example:443", "/live/1")
    assert found is not None
    assert found[0].slug == "cctv" and found[1] == "/live/1"
    assert found[0].resource == "https://cctv.dishub.example/"
    assert registry.lookup("other.example", "/live/1") is None
    assert registry.lookup("cctv.localhost", "/")[0].slug == "cctv"  # type: ignore[index]  # the default host too


async def test_pending_and_rejected_apps_are_not_routed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessionmaker, "draft", status="pending")
    await _add(sessionmaker, "ditolak", status="rejected")
    registry = AppRegistry(sessionmaker, ISSUER, FrozenClock(NOW), addresses=TEST_UPSTREAM_ADDRESSES)
    await registry.load()
    assert registry.lookup("draft.localhost", "/") is None
    assert registry.lookup("ditolak.localhost", "/") is None


async def test_refresh_reloads_only_on_change(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _add(sessionmaker, "parkir")
    clock = FrozenClock(NOW + 100)
    registry = AppRegistry(sessionmaker, ISSUER, clock, addresses=TEST_UPSTREAM_ADDRESSES)
    await registry.load()
    assert await registry.refresh() is False
    await _add(sessionmaker, "cctv", now=NOW + 100)
    assert await registry.refresh() is True
    assert registry.lookup("cctv.localhost", "/") is not None


async def test_change_in_the_same_second_as_the_load_is_not_missed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(NOW)
    registry = AppRegistry(sessionmaker, ISSUER, clock, addresses=TEST_UPSTREAM_ADDRESSES)
    await _add(sessionmaker, "parkir", now=NOW)
    await registry.load()
    # Same second, same count, same updated_at: the fingerprint cannot see this suspension.
    await _suspend(sessionmaker, "parkir", NOW)
    await registry.refresh()
    assert registry.lookup("parkir.localhost", "/")[0].status == "suspended"  # type: ignore[index]


async def test_running_registry_picks_up_new_app_and_suspension(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    registry = AppRegistry(
        sessionmaker, ISSUER, FrozenClock(int(time.time())), refresh_seconds=0.05, addresses=TEST_UPSTREAM_ADDRESSES
    )
    await registry.start()
    try:
        assert registry.lookup("parkir.localhost", "/") is None
        await _add(sessionmaker, "parkir", now=int(time.time()))
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/") is not None)
        await _suspend(sessionmaker, "parkir", int(time.time()))
        await eventually_async(lambda: registry.lookup("parkir.localhost", "/")[0].status == "suspended")  # type: ignore[index]
    finally:
        await registry.stop()


async def test_failed_refresh_keeps_serving_the_last_table(database_url: str) -> None:
    engine = build_engine(database_url)
    maker = build_sessionmaker(engine)
    await seed_opd(maker, NOW)
    await _add(maker, "parkir")
    registry = AppRegistry(maker, ISSUER, FrozenClock(NOW), refresh_seconds=0.02, addresses=TEST_UPSTREAM_ADDRESSES)
    await registry.start()
    try:
        async with engine.begin() as connection:  # the registry's table disappears under it
            await connection.exec_driver_sql("ALTER TABLE apps RENAME TO apps_gone")
        await asyncio.sleep(0.1)
        assert registry.lookup("parkir.localhost", "/") is not None
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE apps_gone RENAME TO apps")
    finally:
        await registry.stop()
        await engine.dispose()


async def test_app_cannot_take_the_hubs_own_host(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(InvalidInput, match="hub's own host"):
        async with sessionmaker() as session, session.begin():
            await add_app(
                session,
                addresses=TEST_UPSTREAM_ADDRESSES,
                slug="parkir",
                opd_slug="dishub",
                upstreams=("http://127.0.0.1:9001",),
                auth_mode="none",
                issuer="https://gerbang.palembang.go.id",
                now=NOW,
                hosts=("Gerbang.Palembang.go.id",),
            )
