"""An app served at several extra host names besides ``{slug}.{apps_domain}`` (``app_hosts``, migration 0013): every
one of them routed by a real hub, a name another app holds refused (CLI, admin API, the database itself), no name
inside the apps domain, an update replaces the list, ``gerbang apply``/``export`` carry it, and the migration
moves the old single ``apps.host`` into the table and back on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from alembic import command
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError

from gateway.app import create_app
from gateway.apps import add_app
from gateway.registry import AppRegistry
from idp.clock import FrozenClock
from idp.org import add_opd
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App, AppHost
from idp.storage.migrate import alembic_config, upgrade
from tests.support.admin import KOMINFO, AdminClient, admin_token, run_seed
from tests.support.cli_env import CLI_ISSUER, cli, use_database
from tests.support.eventually import eventually
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Hub, run_hub
from tests.support.server import run_server
from tests.support.services import drop_pg_database, new_pg_database
from tests.support.upstream import Upstream

NOW = 1_800_000_000


def _status(hub: Hub, host: str, path: str = "/echo") -> int:
    """A request to the hub's address naming ``host`` (as a front load balancer forwards it)."""
    return httpx.get(f"{hub.url}{path}", headers={"host": host}).status_code


# --- a real hub, the admin API -----------------------------------------------------------------------------------
@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, AdminClient, Upstream]]:
    upstream = Upstream("a")
    with (
        run_server(upstream) as address,
        run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as running,
    ):
        run_seed(database_url, running.seeded.users)
        kominfo = AdminClient(running, admin_token(running, KOMINFO))
        submitted = kominfo.post(
            "/apps",
            {
                "slug": "parkir",
                "name": "Parkir",
                "opd": "dishub",
                "upstreams": [address],
                "auth_mode": "none",
                "contact": "tik@dishub.example.id",
                "hosts": ["parkir.dishub.test", "PARKIR-LAMA.example.go.id"],
            },
        )
        assert submitted.status_code == 201, submitted.text
        assert submitted.json()["hosts"] == ["parkir.localhost", "parkir-lama.example.go.id", "parkir.dishub.test"]
        assert kominfo.post("/apps/parkir/approve").status_code == 200
        try:
            yield running, kominfo, upstream
        finally:
            kominfo.close()


def test_every_extra_host_is_routed_and_an_update_replaces_the_list(hub: tuple[Hub, AdminClient, Upstream]) -> None:
    running, kominfo, upstream = hub
    for host in ("parkir.localhost", "parkir.dishub.test", "PARKIR-LAMA.example.go.id:443"):
        assert eventually(lambda host=host: _status(running, host) == 200), host
    assert upstream.hits >= 3
    assert _status(running, "tiruan.dishub.test") == 404  # a name nobody registered
    changed = kominfo.http.patch("/apps/parkir", json={"hosts": ["parkir.baru.example.go.id"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["hosts"] == ["parkir.localhost", "parkir.baru.example.go.id"]
    assert eventually(lambda: _status(running, "parkir.baru.example.go.id") == 200)
    assert _status(running, "parkir.dishub.test") == 404 and _status(running, "parkir-lama.example.go.id") == 404
    assert _status(running, "parkir.localhost") == 200  # the default host always stays


def test_a_host_of_another_app_or_inside_the_apps_domain_is_refused(hub: tuple[Hub, AdminClient, Upstream]) -> None:
    running, kominfo, _ = hub
    body = {
        "slug": "tiruan",
        "name": "Tiruan",
        "opd": "dishub",
        "upstreams": ["http://127.0.0.1:9"],
        "auth_mode": "none",
        "contact": "tik@dishub.example.id",
    }
    taken = kominfo.post("/apps", {**body, "hosts": ["baru.example.go.id", "Parkir.Dishub.Test"]})
    assert taken.status_code == 409 and taken.headers["content-type"].startswith("application/problem+json")
    assert "parkir.dishub.test" in taken.json()["detail"] and "parkir" in taken.json()["detail"]
    inside = kominfo.post("/apps", {**body, "hosts": ["lain.localhost"]})
    assert inside.status_code == 400 and "apps domain" in inside.json()["detail"]
    hub_host = kominfo.post("/apps", {**body, "hosts": ["127.0.0.1"]})
    assert hub_host.status_code == 400
    assert kominfo.get("/apps/tiruan").status_code == 404  # nothing half-written
    created = kominfo.post("/apps", {**body, "hosts": ["tiruan.example.go.id"]})
    assert created.status_code == 201, created.text
    stolen = kominfo.http.patch("/apps/tiruan", json={"hosts": ["parkir-lama.example.go.id"]})
    assert stolen.status_code == 409
    assert kominfo.get("/apps/tiruan").json()["hosts"] == ["tiruan.localhost", "tiruan.example.go.id"]
    assert eventually(lambda: _status(running, "parkir-lama.example.go.id") == 200)  # still parkir's


# --- the CLI and gerbang apply / export ---------------------------------------------------------------------------
@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    cli("opd", "add", "--slug", "kota", "--name", "Kota Palembang", "--kind", "kota")
    cli("opd", "add", "--slug", "dishub", "--name", "Dinas Perhubungan", "--kind", "dinas", "--parent", "kota")
    return database_url


def _routes(database_url: str, *hosts: str) -> dict[str, str | None]:
    async def load() -> dict[str, str | None]:
        engine = build_engine(database_url)
        try:
            registry = AppRegistry(
                build_sessionmaker(engine), CLI_ISSUER, FrozenClock(NOW), addresses=TEST_UPSTREAM_ADDRESSES
            )
            await registry.load()
            return {host: (found[0].slug if (found := registry.lookup(host, "/")) else None) for host in hosts}
        finally:
            await engine.dispose()

    return asyncio.run(load())


def _add(slug: str, *hosts: str, ok: bool = True) -> object:
    args = [part for host in hosts for part in ("--host", host)]
    result = cli(
        "apps",
        "add",
        "--slug",
        slug,
        "--opd",
        "dishub",
        "--upstream",
        "http://127.0.0.1:9001",
        "--auth",
        "none",
        "--json",
        *args,
        ok=ok,
    )
    return json.loads(result.stdout) if ok else result


def test_cli_add_takes_several_hosts_and_update_replaces_them(city: str) -> None:
    record = _add("parkir", "parkir.dishub.test", "Parkir.Palembang.go.id")
    hosts = record["hosts"]  # type: ignore[index]
    assert hosts == ["parkir.localhost", "parkir.dishub.test", "parkir.palembang.go.id"]
    assert _routes(city, "parkir.localhost", "parkir.dishub.test", "parkir.palembang.go.id") == {
        "parkir.localhost": "parkir",
        "parkir.dishub.test": "parkir",
        "parkir.palembang.go.id": "parkir",
    }
    taken = _add("tiruan", "tiruan.example.go.id", "parkir.palembang.go.id", ok=False)
    assert taken.exit_code == 1 and "already belongs to app 'parkir'" in taken.stderr  # type: ignore[attr-defined]
    inside = _add("lain", "lain.localhost", "lain-kedua.localhost", ok=False)
    assert inside.exit_code == 1 and "inside the apps domain" in inside.stderr  # type: ignore[attr-defined]
    assert [app["slug"] for app in json.loads(cli("apps", "list", "--json").stdout)["apps"]] == ["parkir"]
    cli("apps", "update", "parkir", "--host", "parkir.baru.go.id", "--host", "parkir.dishub.test")
    assert _routes(city, "parkir.dishub.test", "parkir.palembang.go.id", "parkir.baru.go.id") == {
        "parkir.dishub.test": "parkir",
        "parkir.palembang.go.id": None,
        "parkir.baru.go.id": "parkir",
    }
    _add("tiruan", "parkir.palembang.go.id")  # free again
    refused = cli("apps", "update", "tiruan", "--host", "parkir.baru.go.id", ok=False)
    assert refused.exit_code == 1 and "already belongs to app 'parkir'" in refused.stderr
    cli("apps", "update", "parkir", "--host", "")
    assert _routes(city, "parkir.dishub.test", "parkir.baru.go.id", "parkir.localhost") == {
        "parkir.dishub.test": None,
        "parkir.baru.go.id": None,
        "parkir.localhost": "parkir",
    }


CITY = """
opd:
  - {slug: kota, name: Kota Palembang, kind: kota}
  - {slug: dishub, name: Dinas Perhubungan, kind: dinas, parent: kota}
apps:
  - {slug: parkir, opd: dishub, upstreams: [http://10.0.3.5:8080], auth_mode: none,
     hosts: [Parkir.Palembang.go.id, parkir.dishub.test]}
  - {slug: cctv, opd: dishub, upstreams: [http://10.0.3.6:8080], auth_mode: none, host: cctv.palembang.go.id}
"""


def test_apply_and_export_carry_the_hosts(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, database_url, tmp_path)
    city_file = tmp_path / "city.yaml"
    city_file.write_text(CITY, encoding="utf-8")  # cctv: a file from before 0013 (one ``host``)
    cli("apply", str(city_file))
    apps = {app["slug"]: app for app in yaml.safe_load(cli("export").stdout)["apps"]}
    assert apps["parkir"]["hosts"] == ["parkir.dishub.test", "parkir.palembang.go.id"]
    assert apps["cctv"]["hosts"] == ["cctv.palembang.go.id"] and "host" not in apps["cctv"]
    exported = tmp_path / "exported.yaml"
    exported.write_text(cli("export").stdout, encoding="utf-8")
    assert "nothing to change" in cli("apply", str(exported)).stdout
    document = yaml.safe_load(exported.read_text(encoding="utf-8"))
    document["apps"][[a["slug"] for a in document["apps"]].index("parkir")]["hosts"] = ["parkir.baru.go.id"]
    exported.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert "hosts" in cli("apply", str(exported)).stdout
    assert _routes(database_url, "parkir.baru.go.id", "parkir.dishub.test") == {
        "parkir.baru.go.id": "parkir",
        "parkir.dishub.test": None,
    }
    assert "nothing to change" in cli("apply", str(exported)).stdout


# --- the database and migration 0013 ------------------------------------------------------------------------------
BACKENDS = [b for b in os.environ.get("GERBANG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
ISSUER = "https://gerbang.palembang.go.id"
APPS_DOMAIN = "apps.palembang.go.id"


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


async def _seed(url: str) -> None:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_opd(session, "kota-palembang", "Kota Palembang", "kota", None, NOW)
        await add_opd(session, "dishub", "Dinas Perhubungan", "dinas", "kota-palembang", NOW)
        for slug, hosts in (
            ("parkir", ("parkir.palembang.go.id", "parkir.dishub.go.id")),
            ("cctv", ("cctv.palembang.go.id",)),
            ("arsip", ()),
        ):
            await add_app(
                session,
                slug=slug,
                opd_slug="dishub",
                upstreams=("http://10.0.3.5:8080",),
                auth_mode="bearer",
                issuer=ISSUER,
                now=NOW,
                apps_domain=APPS_DOMAIN,
                hosts=hosts,
            )
    await engine.dispose()


async def _old_hosts(url: str) -> dict[str, str | None]:
    engine = build_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT slug, host FROM apps"))).all()
    await engine.dispose()
    return dict(rows)  # type: ignore[arg-type]


async def _new_hosts(url: str) -> list[tuple[str, str]]:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session:
        rows = (
            await session.execute(
                select(AppHost.host, App.slug).join(App, App.id == AppHost.app_id).order_by(AppHost.host)
            )
        ).all()
    await engine.dispose()
    return [(host, slug) for host, slug in rows]


async def _database_guarantees(url: str) -> None:
    """Two apps never share a host, and removing an app removes its hosts, whatever code writes the rows."""
    engine = build_engine(url)
    try:
        sessionmaker = build_sessionmaker(engine)
        with pytest.raises(IntegrityError):
            async with sessionmaker() as session, session.begin():
                arsip = await session.scalar(select(App.id).where(App.slug == "arsip"))
                session.add(AppHost(host="cctv.palembang.go.id", app_id=arsip))
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(App).where(App.slug == "cctv"))  # the database's ON DELETE CASCADE
        async with sessionmaker() as session:
            assert (await session.scalars(select(AppHost.host))).all() == ["parkir.palembang.go.id"]
    finally:
        await engine.dispose()


def test_0013_moves_the_single_host_into_app_hosts_and_back(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "head", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    asyncio.run(_seed(url))
    config = alembic_config(url, issuer=ISSUER, apps_domain=APPS_DOMAIN)
    command.downgrade(config, "0012")
    # One host per app fits the old column: the first by name; an app without extra hosts keeps none.
    assert asyncio.run(_old_hosts(url)) == {
        "parkir": "parkir.dishub.go.id",
        "cctv": "cctv.palembang.go.id",
        "arsip": None,
    }
    upgrade(url, "0013", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    assert asyncio.run(_new_hosts(url)) == [("cctv.palembang.go.id", "cctv"), ("parkir.dishub.go.id", "parkir")]
    asyncio.run(_database_guarantees_after_upgrade(url))


async def _database_guarantees_after_upgrade(url: str) -> None:
    engine = build_engine(url)
    async with build_sessionmaker(engine)() as session, session.begin():
        parkir = await session.scalar(select(App.id).where(App.slug == "parkir"))
        await session.execute(delete(AppHost).where(AppHost.app_id == parkir))
        session.add(AppHost(host="parkir.palembang.go.id", app_id=parkir))
    await engine.dispose()
    await _database_guarantees(url)
