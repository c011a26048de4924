"""Mistakes caught before they hurt: unknown settings stop ``gerbang serve`` (each named), the start-up summary
hides passwords and warns about a file outbox, the CLI reads the server's configuration file, and
``gerbang keys rotate`` refuses a secret that cannot open the keys in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.config_check import find_unknown_settings
from gateway.settings import Settings
from gateway.startup_summary import build_summary
from idp.settings import config_path
from idp.storage.models import SigningKey
from tests.support.cli_env import cli, run_query, use_database


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GERBANG_") or k.startswith("GERBANG_TEST_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "1"],
        cwd=tmp_path,
        env={**clean, "GERBANG_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_stops_on_unknown_variables_and_file_keys_naming_each(tmp_path: Path) -> None:
    (tmp_path / "gerbang.toml").write_text('isuer = "http://127.0.0.1:8000"\nlog_level = "info"\n')
    done = _serve(tmp_path, {"GERBANG_REDIS_ULR": "redis://127.0.0.1:6379/0", "GERBANG_WHATEVER": "1"})
    assert done.returncode == 2
    assert "GERBANG_REDIS_ULR is not a Gerbang setting (did you mean GERBANG_REDIS_URL?)" in done.stderr
    assert "GERBANG_WHATEVER is not a Gerbang setting" in done.stderr
    assert "key 'isuer' is not a Gerbang setting (did you mean issuer?)" in done.stderr


def test_known_names_and_the_config_variable_pass() -> None:
    environ = {"GERBANG_REDIS_URL": "x", "GERBANG_CONFIG": "/x", "GERBANG_TEST_BACKENDS": "sqlite", "PATH": "/bin"}
    assert find_unknown_settings(Settings, environ, Path("/nonexistent.toml")) == []


def test_summary_hides_the_database_password_and_warns_about_a_file_outbox(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://gerbang:rahasia@127.0.0.1:1/gerbang",
        data_dir=tmp_path,
        redis_url="redis://:sandi@127.0.0.1:6379/0",
    )
    summary = build_summary(settings, listeners=["http://0.0.0.0:8000 (2 workers)"])
    text = json.dumps(summary)
    assert "rahasia" not in text and "sandi" not in text and "gerbang:***@" in summary["database"]
    assert summary["policy"]["rules"] > 0 and summary["apps"] is None  # the database is not reachable here
    assert "file outbox" in summary["warning"]
    quiet = build_summary(settings, listeners=[], demo=True)
    assert "warning" not in quiet


def test_the_cli_reads_the_servers_configuration_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GERBANG_CONFIG", raising=False)
    assert config_path() == Path("gerbang.toml")  # /etc/gerbang/gerbang.toml does not exist here
    named = tmp_path / "elsewhere.toml"
    named.write_text('issuer = "http://127.0.0.1:8123"\n')
    monkeypatch.setenv("GERBANG_CONFIG", str(named))
    monkeypatch.delenv("GERBANG_ISSUER", raising=False)
    assert config_path() == named and Settings().issuer == "http://127.0.0.1:8123"


def test_keys_rotate_refuses_a_secret_that_cannot_open_the_keys(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, database_url, tmp_path)
    cli("keys", "rotate")
    before = run_query(database_url, select(SigningKey.kid, SigningKey.retired_at))
    monkeypatch.setenv("GERBANG_SECRET_KEY", "w" * 40)
    for command in (["keys", "rotate"], ["keys", "revoke", before[0][0]]):
        refused = cli(*command, ok=False)
        assert refused.exit_code == 1 and "cannot decrypt signing key" in refused.stderr
    assert run_query(database_url, select(SigningKey.kid, SigningKey.retired_at)) == before
