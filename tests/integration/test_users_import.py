"""``gerbang users import FILE.csv``: every bad row named with its line, nothing imported while any row is bad
(unless --skip-bad), a second import of the same file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.storage.models import Membership, OpdUnit, User
from tests.support.cli_env import audit_entries, cli, run_query, use_database

GOOD = "199001012015031001"
CSV = f"""nip,name,email,opd,roles
{GOOD},Budi Santoso,Budi@Dishub.example.id,dishub,operator
199202022016042002,Ani Lestari,ani@dishub.example.id,dishub,operator;opd-admin
12345,Pendek,pendek@dishub.example.id,dishub,operator
199303032017053003,Tanpa Unit,tanpa@example.id,dinas-hilang,operator
199404042018064004,Kembar,budi@dishub.example.id,dishub,
199505052019075005,Surel Salah,bukan-surel,dishub,operator
"""


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_database(monkeypatch, database_url, tmp_path)
    cli("opd", "add", "--slug", "kota", "--name", "Kota", "--kind", "kota")
    cli("opd", "add", "--slug", "dishub", "--name", "Dishub", "--kind", "dinas", "--parent", "kota")
    path = tmp_path / "asn.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def _staff(database_url: str) -> list[tuple[str, str | None, str, str]]:
    rows = run_query(
        database_url,
        select(User.email, User.nip, Membership.role, OpdUnit.slug)
        .join(Membership, Membership.user_id == User.id)
        .join(OpdUnit, Membership.opd_id == OpdUnit.id)
        .order_by(User.email, Membership.role),
    )
    return [tuple(row) for row in rows]


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(city: Path, database_url: str) -> None:
    result = cli("users", "import", str(city), ok=False)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(city))]
    assert [line.split(":")[1] for line in lines] == ["4", "5", "6", "7"]
    assert "NIP must be 18 digits" in lines[0] and "dinas-hilang" in lines[1]
    assert "already on line 2" in lines[2] and "email is not valid" in lines[3]
    assert "nothing imported" in result.stdout
    assert _staff(database_url) == [] and [e.action for e in audit_entries(database_url)] == ["opd.create"] * 2


def test_skip_bad_imports_the_good_rows_and_a_second_run_changes_nothing(city: Path, database_url: str) -> None:
    first = json.loads(cli("users", "import", str(city), "--skip-bad", "--json").stdout)
    assert (first["created"], first["updated"], len(first["bad_rows"])) == (2, 0, 4)
    assert _staff(database_url) == [
        ("ani@dishub.example.id", "199202022016042002", "opd-admin", "dishub"),
        ("ani@dishub.example.id", "199202022016042002", "operator", "dishub"),
        ("budi@dishub.example.id", GOOD, "operator", "dishub"),
    ]
    seq = audit_entries(database_url)[-1].seq
    second = json.loads(cli("users", "import", str(city), "--skip-bad", "--json").stdout)
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 2)
    assert audit_entries(database_url, seq) == []


def test_a_changed_row_updates_the_account(city: Path, database_url: str, tmp_path: Path) -> None:
    cli("users", "import", str(city), "--skip-bad")
    changed = tmp_path / "changed.csv"
    changed.write_text(
        f"nip,name,email,opd,roles\n{GOOD},Budi S.,budi@dishub.example.id,kota,opd-admin\n", encoding="utf-8"
    )
    report = json.loads(cli("users", "import", str(changed), "--json").stdout)
    assert report["updated"] == 1
    assert [row for row in _staff(database_url) if row[0].startswith("budi")] == [
        ("budi@dishub.example.id", GOOD, "opd-admin", "kota")
    ]
    assert [e.action for e in audit_entries(database_url)][-2:] == ["user.update", "user.roles"]


def test_a_file_with_the_wrong_header_is_refused(city: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("nip,nama,email,opd,roles\n", encoding="utf-8")
    result = cli("users", "import", str(wrong), ok=False)
    assert result.exit_code == 1 and ":1: the header must name exactly the columns" in result.stderr
