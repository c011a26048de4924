"""``gerbang apply`` / ``gerbang export``: idempotent, dry-run changes nothing, export → apply reproduces the city
on an empty database (both backends), unknown keys are refused; ``gerbang admins add``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from idp.storage.models import Client, Membership, OpdUnit, User
from tests.support.cli_env import audit_entries, cli, run_query, use_database
from tests.support.services import drop_pg_database, new_pg_database

CITY = """
opd:
  - {slug: kel-satu, name: Kelurahan Satu, kind: kelurahan, parent: kec-ilir}   # before its parent: fine
  - {slug: kota-palembang, name: Pemerintah Kota Palembang, kind: kota}
  - {slug: diskominfo, name: Diskominfo, kind: dinas, parent: kota-palembang}
  - {slug: dishub, name: Dinas Perhubungan, kind: dinas, parent: kota-palembang}
  - {slug: kec-ilir, name: Kecamatan Ilir, kind: kecamatan, parent: kota-palembang}
clients:
  - client_id: parkir-web
    name: Parkir Dishub
    opd: dishub
    redirect_uris: [https://parkir.palembang.go.id/cb]
  - client_id: bapenda-pajak
    name: Bapenda ke BPKAD
    grant_types: [client_credentials]
    scope: budget.read
    resources: [http://127.0.0.1:8000/apps/e-budgeting/]
  - client_id: portal
    name: Portal Warga
    auth_method: none
    redirect_uris: [http://127.0.0.1:8001/callback]
apps:
  - slug: parkir
    opd: dishub
    upstreams: [http://10.0.3.5:8080/]
    auth_mode: session
    client_id: parkir-web
  - {slug: cctv, opd: dishub, upstreams: [http://10.0.3.6:8080], auth_mode: session, status: suspended}
users:
  - {email: budi@dishub.palembang.go.id, name: Budi Santoso, nip: "199001012015031001", roles: [operator@dishub]}
admins:
  - {email: admin@kominfo.palembang.go.id, name: Admin Kominfo}
"""


@pytest.fixture
def empty(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    return database_url


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_apply_creates_then_a_second_apply_changes_nothing(empty: str, tmp_path: Path) -> None:
    city = _file(tmp_path, "city.yaml", CITY)
    planned = cli("apply", city, "--dry-run")
    assert "12 change(s) planned" in planned.stdout and audit_entries(empty) == []
    assert run_query(empty, select(OpdUnit.id)) == []
    secrets = tmp_path / "secrets.json"
    applied = cli("apply", city, "--secrets-file", str(secrets))
    assert "applied" in applied.stdout and "bapenda-pajak" not in applied.stdout.split("applied")[-1].replace(
        str(secrets), ""
    )
    written = json.loads(secrets.read_text())
    assert set(written) == {"parkir-web", "bapenda-pajak"}  # the public client has no secret
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
    digests = dict(run_query(empty, select(Client.client_id, Client.secret_digest)))
    assert written["parkir-web"] not in CITY and digests["parkir-web"] not in (None, written["parkir-web"])
    paths = dict(run_query(empty, select(OpdUnit.slug, OpdUnit.path)))
    assert paths["kel-satu"] == "/kota-palembang/kec-ilir/kel-satu/"
    roles = run_query(
        empty,
        select(User.email, Membership.role, OpdUnit.slug)
        .join(Membership, Membership.user_id == User.id)
        .join(OpdUnit, Membership.opd_id == OpdUnit.id),
    )
    assert sorted(tuple(r) for r in roles) == [
        ("admin@kominfo.palembang.go.id", "kominfo-admin", "diskominfo"),
        ("budi@dishub.palembang.go.id", "operator", "dishub"),
    ]
    seq = audit_entries(empty)[-1].seq
    again = cli("apply", city)
    assert "nothing to change" in again.stdout and audit_entries(empty, seq) == []


def test_a_changed_file_changes_only_what_differs_and_keeps_omitted_fields(empty: str, tmp_path: Path) -> None:
    cli("apply", _file(tmp_path, "city.yaml", CITY))
    seq = audit_entries(empty)[-1].seq
    partial = """
apps:
  - {slug: parkir, opd: dishub, upstreams: [http://10.0.3.7:8080], auth_mode: session}
  - {slug: cctv, opd: dishub, upstreams: [http://10.0.3.6:8080], auth_mode: session, status: active}
opd:
  - {slug: kel-satu, name: Kelurahan Satu, kind: kelurahan, parent: dishub}
users:
  - {email: budi@dishub.palembang.go.id, name: Budi Santoso, roles: [operator@dishub, opd-admin@dishub]}
"""
    dry = cli("apply", _file(tmp_path, "change.yaml", partial), "--dry-run", "--json")
    changes = json.loads(dry.stdout)["changes"]
    assert [(c["section"], c["key"], c["action"]) for c in changes] == [
        ("opd", "kel-satu", "move"),
        ("app", "parkir", "update"),
        ("app", "cctv", "status"),
        ("user", "budi@dishub.palembang.go.id", "roles"),
    ]
    assert changes[1]["values"] == {"upstreams": {"from": ["http://10.0.3.5:8080"], "to": ["http://10.0.3.7:8080"]}}
    cli("apply", str(tmp_path / "change.yaml"))
    actions = [e.action for e in audit_entries(empty, seq)]
    assert actions == ["opd.move", "app.update", "app.resume", "user.roles"]
    (client_id,) = run_query(empty, select(Client.client_id).where(Client.client_id == "parkir-web"))
    assert client_id[0] == "parkir-web"  # apply never deletes what a file leaves out


def test_export_then_apply_on_an_empty_database_reproduces_it(
    empty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("apply", _file(tmp_path, "city.yaml", CITY))
    exported = cli("export").stdout
    assert "secret:" not in exported and "secret_digest" not in exported and "password" not in exported
    document = yaml.safe_load(exported)
    assert {c["client_id"] for c in document["clients"]} == {"parkir-web", "bapenda-pajak", "portal"}
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with _other_database(empty, other_dir) as other_url:
        use_database(monkeypatch, other_url, other_dir)
        cli("apply", _file(other_dir, "exported.yaml", exported))
        assert cli("export").stdout == exported
        assert "nothing to change" in cli("apply", str(other_dir / "exported.yaml")).stdout


class _other_database:
    """A second empty, migrated database on the same backend as ``like``."""

    def __init__(self, like: str, directory: Path) -> None:
        self.like, self.directory, self.name = like, directory, None

    def __enter__(self) -> str:
        if self.like.startswith("sqlite"):
            from idp.storage.migrate import upgrade

            url = f"sqlite+aiosqlite:///{self.directory / 'other.db'}"
            upgrade(url)
            return url
        self.name, url = new_pg_database(template=None)
        from idp.storage.migrate import upgrade

        upgrade(url)
        return url

    def __exit__(self, *_: object) -> None:
        if self.name:
            drop_pg_database(self.name)


def test_mistakes_in_the_files_are_all_reported_and_nothing_is_changed(empty: str, tmp_path: Path) -> None:
    bad = _file(
        tmp_path,
        "bad.yaml",
        """
opd:
  - {slug: kota, name: Kota, kind: kota, colour: red}
appz: []
clients:
  - {client_id: x, name: X, redirect_uris: [https://x.example/cb], auth_method: magic}
""",
    )
    result = cli("apply", bad, ok=False)
    assert result.exit_code == 1
    for expected in ("opd.0.colour", "appz", "clients.0.auth_method"):
        assert expected in result.stderr
    orphan = cli(
        "apply", _file(tmp_path, "orphan.yaml", "opd:\n  - {slug: a, name: A, kind: dinas, parent: b}\n"), ok=False
    )
    assert "parent neither exists" in orphan.stderr
    duplicate = _file(tmp_path, "dup.yaml", "opd:\n  - {slug: a, name: A, kind: kota}\n")
    twice = cli("apply", duplicate, duplicate, ok=False)
    assert "named more than once" in twice.stderr
    assert run_query(empty, select(OpdUnit.id)) == [] and audit_entries(empty) == []


def test_a_bad_value_rolls_the_whole_apply_back(empty: str, tmp_path: Path) -> None:
    text = CITY.replace("http://10.0.3.6:8080", "ftp://10.0.3.6")
    result = cli("apply", _file(tmp_path, "city.yaml", text), ok=False)
    assert result.exit_code == 1 and "upstream" in result.stderr
    assert run_query(empty, select(OpdUnit.id)) == [] and audit_entries(empty) == []


def test_admins_add_makes_the_first_kominfo_administrator(empty: str, tmp_path: Path) -> None:
    missing_unit = cli("admins", "add", "--email", "ani@kominfo.example.id", "--name", "Ani", ok=False)
    assert missing_unit.exit_code == 1 and "diskominfo" in missing_unit.stderr
    cli("opd", "add", "--slug", "diskominfo", "--name", "Diskominfo", "--kind", "dinas")
    added = json.loads(
        cli(
            "admins",
            "add",
            "--email",
            "Ani@Kominfo.example.id",
            "--name",
            "Ani",
            "--password-stdin",
            "--json",
            input="kata-sandi-admin-2026\n",
        ).stdout
    )
    assert added["created"] is True
    again = json.loads(cli("admins", "add", "--email", "ani@kominfo.example.id", "--json").stdout)
    assert again["created"] is False
    listed = json.loads(cli("admins", "list", "--json").stdout)["admins"]
    assert [a["email"] for a in listed] == ["ani@kominfo.example.id"]
    actions = [e.action for e in audit_entries(empty)]
    assert actions == ["opd.create", "user.create", "user.roles"]


def test_the_shipped_demo_city_applies_to_an_empty_database_and_again_changes_nothing(empty: str) -> None:
    city = str(Path(__file__).resolve().parents[2] / "deploy" / "palembang-demo.yaml")
    cli("apply", city)
    assert len(run_query(empty, select(OpdUnit.id))) > 20
    assert "nothing to change" in cli("apply", city).stdout
    exported = yaml.safe_load(cli("export").stdout)
    assert {app["slug"] for app in exported["apps"]} == {"parkir", "cctv", "e-budgeting"}
