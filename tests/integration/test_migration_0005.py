"""Migration 0005 on both backends: every app's old default resource identifier ``{issuer}/apps/{slug}/`` moves to
its own origin wherever it is stored (clients' allowed resources, live grants, unredeemed codes; an app's resource
that held the old default follows the new one), other identifiers stay, gateway sessions gain their app, and the
downgrade maps everything back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select

from gateway.apps import add_app
from idp.accounts import add_user
from idp.clients import add_client
from idp.org import add_opd
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.migrate import alembic_config, upgrade
from idp.storage.models import AuthorizationCode, Client, Grant
from tests.support.services import drop_pg_database, new_pg_database

BACKENDS = [b for b in os.environ.get("GERBANG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
ISSUER = "https://gerbang.palembang.go.id"
APPS_DOMAIN = "apps.palembang.go.id"
OLD_PARKIR, NEW_PARKIR = f"{ISSUER}/apps/parkir/", "https://parkir.apps.palembang.go.id/"
OLD_CCTV, NEW_CCTV = f"{ISSUER}/apps/cctv/", "https://cctv.apps.palembang.go.id/"
ELSEWHERE = "https://arsip.palembang.go.id/api/"  # an explicit identifier: not the hub's, never rewritten
NOW = 1_800_000_000


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    name, url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


def _seed_at_0004(url: str) -> None:
    """A database at revision 0004 holding the old identifiers. The rows are written through today's models, so they
    are written at head (every later column present) and the schema then steps back to 0004; the downgrades leave
    the old identifiers as they are."""
    upgrade(url, "head", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    asyncio.run(_seed(url))
    command.downgrade(alembic_config(url, issuer=ISSUER, apps_domain=APPS_DOMAIN), "0004")


async def _seed(url: str) -> None:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_opd(session, "kota-palembang", "Kota Palembang", "kota", None, NOW)
        await add_opd(session, "dishub", "Dinas Perhubungan", "dinas", "kota-palembang", NOW)
        user = await add_user(session, email="siti@warga.example.id", name="Siti", password_hash=None, now=NOW)
        for slug, resource in (("parkir", None), ("cctv", OLD_CCTV), ("arsip", ELSEWHERE)):
            await add_app(
                session,
                slug=slug,
                opd_slug="dishub",
                upstreams=("http://10.0.3.5:8080",),
                auth_mode="bearer",
                issuer=ISSUER,
                now=NOW,
                resource=resource,
            )
        await add_client(
            session,
            name="Bapenda",
            now=NOW,
            client_id="bapenda-pajak",
            redirect_uris=(),
            grant_types=("client_credentials",),
            resources=(OLD_PARKIR, OLD_CCTV, ELSEWHERE),
        )
        session.add(
            Grant(
                id="g1",
                client_id="bapenda-pajak",
                user_id=user.id,
                scope="openid",
                resources=[OLD_PARKIR],
                created_at=NOW,
                expires_at=NOW + 3600,
            )
        )
        session.add(
            AuthorizationCode(
                code_digest="c1",
                client_id="bapenda-pajak",
                user_id=user.id,
                redirect_uri="https://x.example/cb",
                scope="openid",
                code_challenge="x",
                code_challenge_method="S256",
                resources=[OLD_CCTV, ELSEWHERE],
                auth_time=NOW,
                acr="1",
                family_id="g1",
                expires_at=NOW + 60,
            )
        )
    await engine.dispose()


async def _stored(url: str) -> dict[str, object]:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session:
        client = await session.scalar(select(Client.resources).where(Client.client_id == "bapenda-pajak"))
        grant = await session.scalar(select(Grant.resources).where(Grant.id == "g1"))
        code = await session.scalar(select(AuthorizationCode.resources))
        apps = dict((await session.execute(select(App.slug, App.resource))).all())
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("gateway_sessions")}
        )
    await engine.dispose()
    return {"client": client, "grant": grant, "code": code, "apps": apps, "session_app": "app" in columns}


def test_0005_moves_every_default_identifier_to_the_apps_origin_and_back(empty_database: str) -> None:
    url = empty_database
    _seed_at_0004(url)
    upgrade(url, "0005", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    assert asyncio.run(_stored(url)) == {
        "client": [NEW_PARKIR, NEW_CCTV, ELSEWHERE],
        "grant": [NEW_PARKIR],
        "code": [NEW_CCTV, ELSEWHERE],
        "apps": {"parkir": None, "cctv": None, "arsip": ELSEWHERE},
        "session_app": True,
    }
    command.downgrade(alembic_config(url, issuer=ISSUER, apps_domain=APPS_DOMAIN), "0004")
    back = asyncio.run(_stored(url))
    assert (back["client"], back["grant"], back["code"], back["session_app"]) == (
        [OLD_PARKIR, OLD_CCTV, ELSEWHERE],
        [OLD_PARKIR],
        [OLD_CCTV, ELSEWHERE],
        False,
    )
    upgrade(url, "head", issuer=ISSUER, apps_domain=APPS_DOMAIN)  # and up again
    assert asyncio.run(_stored(url))["client"] == [NEW_PARKIR, NEW_CCTV, ELSEWHERE]


def test_0005_reads_the_origins_from_the_environment_when_not_given(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = empty_database
    _seed_at_0004(url)
    monkeypatch.setenv("GERBANG_ISSUER", ISSUER)
    monkeypatch.setenv("GERBANG_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("GERBANG_APPS_DOMAIN", APPS_DOMAIN)
    upgrade(url, "0005")
    assert asyncio.run(_stored(url))["grant"] == [NEW_PARKIR]
