"""``gerbang backup`` → ``gerbang restore`` onto an empty database (both backends): the audit chain verifies with
the restored keys, and people sign in at a hub running on the restored database with the keys it had."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.cli_env import cli, use_database
from tests.support.flows import issue_tokens
from tests.support.hub import Hub, free_port, run_hub
from tests.support.server import run_server
from tests.support.services import drop_pg_database, new_pg_database

HUB_SECRET = "t" * 40  # run_hub's


@pytest.fixture
def empty_target(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema at all) on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'gerbang.db'}"
        return
    name, url = new_pg_database(template=None)
    try:
        yield url
    finally:
        drop_pg_database(name)


def _use(monkeypatch: pytest.MonkeyPatch, url: str, directory: Path, policy_dir: Path | None = None) -> None:
    directory.mkdir(exist_ok=True)
    use_database(monkeypatch, url, directory)
    monkeypatch.setenv("GERBANG_SECRET_KEY", HUB_SECRET)
    if policy_dir is not None:
        monkeypatch.setenv("GERBANG_POLICY_DIR", str(policy_dir))
    else:
        monkeypatch.delenv("GERBANG_POLICY_DIR", raising=False)


def test_backup_restore_verify_and_sign_in(
    database_url: str, empty_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "00-city.yaml").write_text("apps:\n  - {slug: simpeg, restricted: true}\n", encoding="utf-8")
    with run_hub(database_url, tmp_path / "hub", app_factory=create_app) as hub:
        before = issue_tokens(hub, "Parkir Dishub")
        kid = jwt.get_unverified_header(before["id_token"])["kid"]
        _use(monkeypatch, database_url, tmp_path / "source", policies)
        cli("opd", "add", "--slug", "bapenda", "--name", "Bapenda", "--kind", "badan", "--parent", "kota-palembang")
        cli("audit", "checkpoint")
        archive = tmp_path / "gerbang-backup.tar.gz"
        cli("backup", str(archive))  # while the hub runs
        source_report = json.loads(cli("audit", "verify", "--json").stdout)
    with tarfile.open(archive) as opened:
        names = opened.getnames()
    assert "manifest.json" in names and "policies/00-city.yaml" in names
    again = cli("backup", str(archive), ok=False)
    assert again.exit_code == 1 and "exists" in again.stderr

    restored_policies = tmp_path / "restored-policies"
    _use(monkeypatch, empty_target, tmp_path / "target")
    cli("restore", str(archive), "--policy-dir", str(restored_policies))
    assert (restored_policies / "00-city.yaml").read_text(encoding="utf-8").startswith("apps:")
    report = json.loads(cli("audit", "verify", "--json").stdout)
    assert report["intact"] and report["checkpoints"] >= 1
    assert (report["entries"], report["head_hash"]) == (source_report["entries"], source_report["head_hash"])
    refused = cli("restore", str(archive), ok=False)
    assert refused.exit_code == 1 and "not empty" in refused.stderr

    port = free_port()
    settings = Settings(
        issuer=f"http://127.0.0.1:{port}",
        database_url=empty_target,
        data_dir=tmp_path / "target",
        secret_key=HUB_SECRET,
        policy_dir=hub.settings.policy_dir,
    )
    with run_server(create_app(settings), port=port):
        restored = Hub(f"http://127.0.0.1:{port}", settings, hub.seeded)
        after = issue_tokens(restored, "Parkir Dishub")  # the seeded citizen signs in; the client secret holds
    assert jwt.get_unverified_header(after["id_token"])["kid"] == kid  # the restored key signs, not a new one


def test_restore_refuses_another_kind_of_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, database_url, tmp_path / "source")
    cli("opd", "add", "--slug", "kota", "--name", "Kota", "--kind", "kota")
    archive = tmp_path / "b.tar.gz"
    cli("backup", str(archive))
    other = (
        "postgresql+asyncpg://postgres@127.0.0.1:5432/none"
        if database_url.startswith("sqlite")
        else f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    )
    _use(monkeypatch, other, tmp_path / "other")
    refused = cli("restore", str(archive), ok=False)
    assert refused.exit_code == 1 and "restore onto the same kind" in refused.stderr
    not_a_backup = tmp_path / "nothing.tar.gz"
    not_a_backup.write_bytes(b"not a tar")
    assert "not a Gerbang backup" in cli("restore", str(not_a_backup), ok=False).stderr
