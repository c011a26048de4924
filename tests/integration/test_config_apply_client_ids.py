"""Every client id the hub generates survives ``gerbang export`` → ``gerbang apply``: generated ids start with a
letter or digit, the form the city file (and every command line) accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.test_config_apply import _file, _other_database
from tests.support.cli_env import cli, use_database


@pytest.fixture
def empty(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    return database_url


def test_generated_client_ids_round_trip(empty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated = {
        json.loads(
            cli("clients", "add", "--name", f"Klien {n}", "--redirect-uri", "https://x.example/cb", "--json").stdout
        )["client_id"]
        for n in range(40)
    }
    assert all(client_id[0].isalnum() for client_id in generated)
    exported = cli("export").stdout
    assert {c["client_id"] for c in yaml.safe_load(exported)["clients"]} == generated
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with _other_database(empty, other_dir) as other_url:
        use_database(monkeypatch, other_url, other_dir)
        cli("apply", _file(other_dir, "exported.yaml", exported))
        assert cli("export").stdout == exported


@pytest.mark.parametrize(
    "client_id", ["-bapenda", "_bapenda", ".dot-first", "", "a" * 65, "spasi di tengah", "garis/miring"]
)
def test_ids_outside_the_form_are_still_refused(empty: str, client_id: str) -> None:
    refused = cli("clients", "add", "--name", "X", f"--client-id={client_id}", ok=False)
    assert refused.exit_code != 0
