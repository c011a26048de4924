"""Nothing is write-once: ``gerbang apps|clients|users|opd`` update and remove, on both databases, each change
audited with a diff and the actor ``cli:<os user>@<host>``; running registries and token endpoints see them."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.registry import AppRegistry
from idp.clients import is_secret_valid
from idp.clock import SystemClock
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AccessToken, Client, OpdUnit, RevokedToken
from tests.support.cli_env import CLI_ISSUER, audit_entries, cli, run_query, use_database
from tests.support.hub import TEST_UPSTREAM_ADDRESSES


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    cli("opd", "add", "--slug", "kota", "--name", "Kota Palembang", "--kind", "kota")
    cli("opd", "add", "--slug", "dishub", "--name", "Dinas Perhubungan", "--kind", "dinas", "--parent", "kota")
    cli("opd", "add", "--slug", "kec-ilir", "--name", "Kecamatan Ilir", "--kind", "kecamatan", "--parent", "kota")
    cli(
        "clients",
        "add",
        "--name",
        "Parkir",
        "--client-id",
        "parkir-web",
        "--opd",
        "dishub",
        "--redirect-uri",
        "https://parkir.example.go.id/cb",
    )
    cli(
        "apps",
        "add",
        "--slug",
        "parkir",
        "--opd",
        "dishub",
        "--upstream",
        "http://127.0.0.1:9001",
        "--auth",
        "session",
        "--client",
        "parkir-web",
    )
    return database_url


def _routes(database_url: str) -> dict[str, tuple[str, ...]]:
    async def load() -> dict[str, tuple[str, ...]]:
        engine = build_engine(database_url)
        try:
            registry = AppRegistry(
                build_sessionmaker(engine), CLI_ISSUER, SystemClock(), addresses=TEST_UPSTREAM_ADDRESSES
            )
            await registry.load()
            found = registry.lookup("parkir.localhost", "/")
            return {} if found is None else {found[0].slug: tuple(found[0].upstreams)}
        finally:
            await engine.dispose()

    return asyncio.run(load())


def test_every_cli_change_is_audited_with_the_actor_and_host(city: str) -> None:
    entries = audit_entries(city)
    assert [e.action for e in entries] == ["opd.create"] * 3 + ["client.create", "app.create"]
    assert all(e.actor.startswith("cli:") and e.actor.endswith(f"@{socket.gethostname()}") for e in entries)
    cli("apps", "suspend", "parkir")  # positional, as the README writes it
    cli("apps", "resume", "--slug", "parkir")
    suspend, resume = audit_entries(city, entries[-1].seq)
    assert (suspend.action, suspend.detail["diff"]) == (
        "app.suspend",
        {"status": {"from": "active", "to": "suspended"}},
    )
    assert resume.action == "app.resume"


def test_app_update_reaches_the_registry_and_an_unchanged_update_says_so(city: str) -> None:
    assert _routes(city)["parkir"][0].startswith("http://127.0.0.1:9001")
    seq = audit_entries(city)[-1].seq
    change = (
        "apps",
        "update",
        "parkir",
        "--upstream",
        "http://127.0.0.1:9002",
        "--restricted",
        "--name",
        "Parkir Online",
    )
    # Restricted, its client parkir-web would have to follow FAPI 2.0 (the shipped rule): refused whole, as written
    refused = cli(*change, ok=False)
    assert refused.exit_code == 1 and "fapi2-for-restricted-apps" in refused.stderr and "parkir-web" in refused.stderr
    assert _routes(city)["parkir"][0].startswith("http://127.0.0.1:9001") and not audit_entries(city, seq)
    record = json.loads(cli(*change, "--client", "", "--json").stdout)
    assert record["changed"] and record["diff"]["upstreams"] == {
        "from": ["http://127.0.0.1:9001"],
        "to": ["http://127.0.0.1:9002"],
    }
    assert _routes(city)["parkir"][0].startswith("http://127.0.0.1:9002")
    (entry,) = audit_entries(city, seq)
    assert entry.action == "app.update" and set(entry.detail["diff"]) == {
        "upstreams",
        "restricted",
        "name",
        "client_id",
    }
    again = cli("apps", "update", "parkir", "--upstream", "http://127.0.0.1:9002")
    assert "nothing changed" in again.stdout and len(audit_entries(city, seq)) == 1
    bad = cli("apps", "update", "parkir", "--upstream", "ftp://x", ok=False)
    assert bad.exit_code == 1 and "upstream must be" in bad.stderr


def test_app_remove_asks_first_and_then_the_route_is_gone(city: str) -> None:
    declined = cli("apps", "remove", "parkir", input="n\n", ok=False)
    assert declined.exit_code == 1 and "parkir" in _routes(city)
    cli("apps", "remove", "parkir", "--yes")
    assert "parkir" not in _routes(city)
    assert audit_entries(city)[-1].action == "app.remove"


def test_client_update_checks_the_merged_metadata(city: str) -> None:
    result = cli(
        "clients",
        "update",
        "parkir-web",
        "--redirect-uri",
        "https://parkir.example.go.id/cb2",
        "--scope",
        "openid email",
        "--json",
    )
    assert json.loads(result.stdout)["diff"]["redirect_uris"]["to"] == ["https://parkir.example.go.id/cb2"]
    (row,) = run_query(city, select(Client.redirect_uris, Client.scope).where(Client.client_id == "parkir-web"))
    assert tuple(row) == (["https://parkir.example.go.id/cb2"], "openid email")
    refused = cli("clients", "update", "parkir-web", "--redirect-uri", "http://evil.example/cb", ok=False)
    assert refused.exit_code == 1 and "https" in refused.stderr
    hub_own = cli("clients", "update", "gerbang-console", "--name", "x", ok=False)
    assert hub_own.exit_code == 1


def test_rotated_secret_keeps_the_old_one_for_the_grace_period_only(city: str) -> None:
    old = json.loads(
        cli(
            "clients",
            "add",
            "--name",
            "Bapenda",
            "--client-id",
            "bapenda",
            "--grant",
            "client_credentials",
            "--scope",
            "budget.read",
            "--json",
        ).stdout
    )["client_secret"]
    result = json.loads(cli("clients", "rotate-secret", "bapenda", "--grace", "10m", "--json").stdout)
    new, until = result["client_secret"], result["old_secret_valid_until"]
    assert until == pytest.approx(time.time() + 600, abs=5) and new != old
    (row,) = run_query(city, select(Client).where(Client.client_id == "bapenda"))
    client = row[0]
    assert is_secret_valid(client, new, until + 3600)
    assert is_secret_valid(client, old, until - 1) and not is_secret_valid(client, old, until)
    entry = audit_entries(city)[-1]
    assert entry.action == "client.rotate_secret" and old not in json.dumps(entry.detail)
    assert new not in json.dumps(entry.detail)
    # Rotating again ends the first old secret at once: one old secret at most.
    cli("clients", "rotate-secret", "bapenda", "--grace", "0")
    (row,) = run_query(city, select(Client).where(Client.client_id == "bapenda"))
    assert not is_secret_valid(row[0], old, until - 1) and not is_secret_valid(row[0], new, until - 1)
    bad = cli("clients", "rotate-secret", "bapenda", "--grace", "soon", ok=False)
    assert bad.exit_code == 2


def test_remove_client_refused_while_an_app_uses_it(city: str) -> None:
    refused = cli("clients", "remove", "parkir-web", "--yes", ok=False)
    assert refused.exit_code == 1 and "parkir" in refused.stderr
    cli("apps", "update", "parkir", "--client", "")
    cli("clients", "remove", "parkir-web", "--yes")
    assert run_query(city, select(Client.id).where(Client.client_id == "parkir-web")) == []


def _store(database_url: str, *rows: object) -> None:
    async def write() -> None:
        engine = build_engine(database_url)
        try:
            async with build_sessionmaker(engine)() as session, session.begin():
                session.add_all(rows)
        finally:
            await engine.dispose()

    asyncio.run(write())


def test_remove_client_denylists_its_live_access_tokens(city: str) -> None:
    """A client removed while its access tokens are live: each one not yet denylisted joins the denylist."""
    until = int(time.time()) + 600
    _store(
        city,
        AccessToken(jti="live-one", client_id="parkir-web", expires_at=until),
        AccessToken(jti="live-two", client_id="parkir-web", expires_at=until),
        RevokedToken(jti="live-two", expires_at=until),
        AccessToken(jti="expired", client_id="parkir-web", expires_at=int(time.time()) - 60),
    )
    cli("apps", "update", "parkir", "--client", "")
    cli("clients", "remove", "parkir-web", "--yes")
    denied = {jti for (jti,) in run_query(city, select(RevokedToken.jti))}
    assert denied == {"live-one", "live-two"}


def test_opd_move_rewrites_the_subtree_and_remove_is_refused_while_anything_belongs(city: str) -> None:
    cli("opd", "add", "--slug", "kel-satu", "--name", "Kelurahan Satu", "--kind", "kelurahan", "--parent", "dishub")
    cli("opd", "move", "dishub", "--parent", "kec-ilir")
    paths = dict(run_query(city, select(OpdUnit.slug, OpdUnit.path)))
    assert paths["dishub"] == "/kota/kec-ilir/dishub/" and paths["kel-satu"] == "/kota/kec-ilir/dishub/kel-satu/"
    cycle = cli("opd", "move", "kec-ilir", "--parent", "kel-satu", ok=False)
    assert cycle.exit_code == 1 and "inside it" in cycle.stderr
    refused = cli("opd", "remove", "dishub", "--yes", ok=False)
    assert refused.exit_code == 1 and "1 sub-units" in refused.stderr and "1 apps" in refused.stderr
    cli("opd", "update", "kel-satu", "--name", "Kelurahan Satu Ilir")
    cli("opd", "remove", "kel-satu", "--yes")
    assert "kel-satu" not in dict(run_query(city, select(OpdUnit.slug, OpdUnit.path)))
    actions = [e.action for e in audit_entries(city)][-4:]
    assert actions == ["opd.create", "opd.move", "opd.update", "opd.remove"]


def test_users_update_disable_enable(city: str) -> None:
    cli("users", "add", "--email", "budi@dishub.example.id", "--name", "Budi", "--opd", "dishub", "--role", "operator")
    changed = json.loads(
        cli("users", "update", "--user", "budi@dishub.example.id", "--name", "Budi Santoso", "--json").stdout
    )
    assert changed["diff"] == {"name": {"from": "Budi", "to": "Budi Santoso"}}
    assert json.loads(cli("users", "disable", "--user", "budi@dishub.example.id", "--json").stdout)["disabled"]
    assert not json.loads(cli("users", "enable", "--user", "budi@dishub.example.id", "--json").stdout)["disabled"]
    assert [e.action for e in audit_entries(city)][-3:] == ["user.update", "user.disable", "user.enable"]
    missing = cli("users", "disable", "--user", "nobody@example.id", ok=False)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
