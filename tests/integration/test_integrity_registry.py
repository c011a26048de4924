"""The per-app integrity mode through every door: ``gerbang apps add|update --integrity``, ``apply``/``export``,
refusals of unknown modes (both databases)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from alembic import command
from sqlalchemy import inspect, select

from idp.storage.db import build_engine
from idp.storage.gateway_models import App
from idp.storage.migrate import alembic_config, upgrade
from tests.integration.test_app_hosts import APPS_DOMAIN, ISSUER, _seed, empty_database  # noqa: F401 - a fixture
from tests.support.cli_env import cli, run_query, use_database

CITY = """
opd:
  - {slug: kota-palembang, name: Pemerintah Kota Palembang, kind: kota}
  - {slug: bpkad, name: BPKAD, kind: badan, parent: kota-palembang}
apps:
  - {slug: e-budgeting, opd: bpkad, upstreams: [http://10.0.3.7:8080], auth_mode: bearer, integrity: ledger}
"""


@pytest.fixture
def empty(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    return database_url


def test_apply_export_and_the_cli_carry_the_integrity_mode(empty: str, tmp_path: Path) -> None:
    city = tmp_path / "city.yaml"
    city.write_text(CITY)
    cli("apply", str(city))
    assert run_query(empty, select(App.integrity).where(App.slug == "e-budgeting"))[0][0] == "ledger"
    assert yaml.safe_load(cli("export").stdout)["apps"][0]["integrity"] == "ledger"
    assert "nothing to change" in cli("apply", str(city)).stdout
    updated = json.loads(cli("apps", "update", "e-budgeting", "--integrity", "signed", "--json").stdout)
    assert updated["diff"]["integrity"] == {"from": "ledger", "to": "signed"}
    added = json.loads(
        cli(
            "apps",
            "add",
            "--slug",
            "pajak",
            "--opd",
            "bpkad",
            "--upstream",
            "http://10.0.3.8:8080",
            "--auth",
            "bearer",
            "--integrity",
            "ledger",
            "--json",
        ).stdout
    )
    assert added["integrity"] == "ledger"
    listed = json.loads(cli("apps", "list", "--json").stdout)["apps"]
    assert {app["slug"]: app["integrity"] for app in listed} == {"e-budgeting": "signed", "pajak": "ledger"}


def test_an_unknown_mode_is_refused_everywhere(empty: str, tmp_path: Path) -> None:
    city = tmp_path / "city.yaml"
    city.write_text(CITY.replace("integrity: ledger", "integrity: notarised"))
    assert cli("apply", str(city), ok=False).exit_code != 0
    assert (
        cli(
            "apps",
            "add",
            "--slug",
            "pajak",
            "--opd",
            "bpkad",
            "--upstream",
            "http://10.0.3.8:8080",
            "--auth",
            "bearer",
            "--integrity",
            "notarised",
            ok=False,
        ).exit_code
        != 0
    )


def test_migration_0017_adds_the_modes_the_key_purpose_and_the_ledger_and_goes_back(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "head", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    asyncio.run(_seed(url))
    config = alembic_config(url, issuer=ISSUER, apps_domain=APPS_DOMAIN)
    command.downgrade(config, "0016")
    assert "integrity" not in asyncio.run(_columns(url, "apps"))
    assert "ledger_receipts" not in asyncio.run(_tables(url))
    upgrade(url, "0017", issuer=ISSUER, apps_domain=APPS_DOMAIN)
    assert run_query(url, select(App.slug, App.integrity).order_by(App.slug)) == [
        ("arsip", "none"),
        ("cctv", "none"),
        ("parkir", "none"),
    ]
    assert {"ledger_receipts", "ledger_checkpoints"} <= asyncio.run(_tables(url))
    assert "purpose" in asyncio.run(_columns(url, "signing_keys"))


async def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


async def _columns(url: str, table: str) -> set[str]:
    engine = build_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: {column["name"] for column in inspect(sync).get_columns(table)})
    await engine.dispose()
    return names
