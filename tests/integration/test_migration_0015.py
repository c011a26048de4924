"""Migration 0015 on both backends: apps keep the default claim set (null), data requests written before it read
with an empty target and outcome, and the downgrade removes the columns and comes back."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import select, text

from gateway.apps import add_app
from idp.accounts import add_user
from idp.org import add_opd
from idp.pdp.requests import build_request
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.migrate import alembic_config, upgrade
from idp.storage.models import DataRequest
from tests.integration.test_app_hosts import APPS_DOMAIN, ISSUER, empty_database  # noqa: F401 - the fixture

NOW = 1_800_000_000


async def _seed(url: str) -> None:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_opd(session, "dishub", "Dinas Perhubungan", "dinas", None, NOW)
        await add_app(
            session,
            slug="parkir",
            opd_slug="dishub",
            upstreams=("http://10.0.3.5:8080",),
            auth_mode="session",
            issuer=ISSUER,
            now=NOW,
            apps_domain=APPS_DOMAIN,
            claims=("email",),
        )
        user = await add_user(session, email="siti@example.id", name="Siti", password_hash=None, now=NOW)
        session.add(build_request(user.id, "export", NOW, actor="user:x", target="client:portal"))
    await engine.dispose()


async def _columns(url: str) -> tuple[set[str], set[str]]:
    engine = build_engine(url)
    async with engine.connect() as connection:
        apps = set((await connection.execute(text("SELECT * FROM apps"))).keys())
        requests = set((await connection.execute(text("SELECT * FROM data_requests"))).keys())
    await engine.dispose()
    return apps, requests


async def _read(url: str) -> tuple[object, tuple[str, str]]:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session:
        claims = await session.scalar(select(App.claims).where(App.slug == "parkir"))
        row = await session.scalar(select(DataRequest))
        assert row is not None
        found = (claims, (row.target, row.outcome))
    await engine.dispose()
    return found


def test_0015_adds_claims_and_request_outcomes_and_downgrades(empty_database: str) -> None:  # noqa: F811
    url = empty_database
    upgrade(url, "head", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    asyncio.run(_seed(url))
    assert asyncio.run(_read(url)) == (["email"], ("client:portal", ""))
    command.downgrade(alembic_config(url, issuer=ISSUER, apps_domain=APPS_DOMAIN), "0013")
    apps, requests = asyncio.run(_columns(url))
    assert "claims" not in apps and not {"target", "outcome"} & requests
    upgrade(url, "0015", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    assert asyncio.run(_read(url)) == (None, ("", ""))  # the default set; nothing recorded before
