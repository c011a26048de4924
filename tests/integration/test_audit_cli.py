"""The audit CLI end to end: JSON Lines export re-verified offline, create commands leaving entries,
and the real ``gerbang`` console script's exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.audit import EXIT_TAMPERED
from idp.audit_verify import jwks_keys, verify_jsonl
from tests.support.audit import cli_env, gerbang, read_chain, run_sql, seed_chain


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    asyncio.run(seed_chain(database_url))
    return cli_env(database_url, str(tmp_path / "data"))


@pytest.fixture
def export(env: dict[str, str], tmp_path: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    output, keys = tmp_path / "audit.jsonl", tmp_path / "jwks.json"
    result = gerbang(env, "audit", "export", "--output", str(output), "--keys-output", str(keys))
    assert result.exit_code == 0, result.stderr
    assert "exported 12 entries" in result.stderr
    return output, jwks_keys(json.loads(keys.read_text()))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def test_export_round_trips_through_verify_jsonl(export: tuple[Path, dict], database_url: str) -> None:
    path, keys = export
    records = _lines(path)
    assert [record["seq"] for record in records] == list(range(1, 13))
    assert records == [entry.as_record() for entry in read_chain(database_url)]
    assert "Ani Ü" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    report = verify_jsonl(path, keys)
    assert report.intact, report.summary()
    assert (report.entries, report.checkpoints, report.unverified_checkpoints) == (12, 2, 0)


def test_export_without_keys_counts_signatures_as_unchecked(export: tuple[Path, dict]) -> None:
    report = verify_jsonl(export[0])
    assert report.intact and report.unverified_checkpoints == 2
    assert "not checked" in report.summary()


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("edit", (4, "edited")),
        ("delete", (4, "deleted")),
        ("swap", (4, "reordered")),
        ("garbage", (4, "malformed")),
    ],
)
def test_tampered_export_names_the_first_bad_entry(
    export: tuple[Path, dict], tmp_path: Path, tamper: str, expected: tuple[int, str]
) -> None:
    records = _lines(export[0])
    if tamper == "edit":
        records[3]["detail"]["name"] = "Budi"
    elif tamper == "delete":
        del records[3]
    elif tamper == "swap":
        records[3], records[4] = records[4], records[3]
    tampered = _write(tmp_path / "tampered.jsonl", records)
    if tamper == "garbage":
        lines = tampered.read_text().splitlines()
        lines[3] = '{"seq": 4, "not": "an entry"}'
        tampered.write_text("\n".join(lines) + "\n")
    fault = verify_jsonl(tampered, export[1]).fault
    assert fault is not None and (fault.seq, fault.kind) == expected


def test_export_since_verifies_from_its_first_line(env: dict[str, str], tmp_path: Path) -> None:
    result = gerbang(env, "audit", "export", "--since", "6")
    assert result.exit_code == 0
    path = tmp_path / "since.jsonl"
    path.write_text(result.stdout, encoding="utf-8")
    report = verify_jsonl(path)
    assert report.intact and (report.first_seq, report.last_seq) == (6, 12)


def test_verify_jsonl_from_the_command_line(export: tuple[Path, dict], env: dict[str, str], tmp_path: Path) -> None:
    path = export[0]
    keys = tmp_path / "jwks.json"
    ok = gerbang({}, "audit", "verify", "--jsonl", str(path), "--jwks", str(keys))
    assert ok.exit_code == 0 and ok.stdout.startswith("12 entries, 2 checkpoints, chain intact")
    records = _lines(path)
    records[9]["detail"]["token"] = records[4]["detail"]["token"]  # a valid signature over the wrong head
    records[9]["hash"] = "f" * 64
    bad = gerbang({}, "audit", "verify", "--jsonl", str(_write(tmp_path / "bad.jsonl", records)), "--json")
    assert bad.exit_code == EXIT_TAMPERED
    assert json.loads(bad.stdout)["fault"]["seq"] == 10


def test_unwritable_export_target_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "audit.jsonl"
    result = gerbang(env, "audit", "export", "--output", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {target}") and result.stderr.count("\n") == 1
    assert not target.parent.exists()


def test_unreadable_jwks_is_a_one_line_error(export: tuple[Path, dict], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = gerbang({}, "audit", "verify", "--jsonl", str(export[0]), "--jwks", str(broken))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_create_commands_leave_audit_entries(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, str(tmp_path / "data"))
    steps = [
        ("keys", "rotate"),
        ("opd", "add", "--slug", "kota-palembang", "--name", "Kota Palembang", "--kind", "kota"),
        (
            "opd",
            "add",
            "--slug",
            "dinkes",
            "--name",
            "Dinas Kesehatan",
            "--kind",
            "dinas",
            "--parent",
            "kota-palembang",
        ),
        (
            "users",
            "add",
            "--email",
            "ani@palembang.go.id",
            "--name",
            "Ani",
            "--opd",
            "dinkes",
            "--role",
            "operator",
            "--password-stdin",
        ),
        ("clients", "add", "--name", "SIMPUS", "--opd", "dinkes", "--redirect-uri", "https://simpus.example/cb"),
    ]
    for step in steps:
        result = gerbang(env, *step, "--json", stdin="correct horse battery staple 7\n")
        assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    chain = read_chain(database_url)
    assert [entry.action for entry in chain] == [
        "keys.rotate",
        "opd.create",
        "opd.create",
        "user.create",
        "client.create",
    ]
    assert all(entry.actor.startswith("cli:") and len(entry.actor) > 4 for entry in chain)
    assert chain[2].target == "opd:dinkes" and chain[2].detail["path"] == "/kota-palembang/dinkes/"
    assert chain[3].detail["roles"] == ["operator"] and chain[3].detail["password_set"] is True
    assert chain[4].target == f"client:{created['client_id']}"
    assert created["client_secret"] not in json.dumps([entry.as_record() for entry in chain])
    assert gerbang(env, "audit", "verify").exit_code == 0


def test_failed_create_command_leaves_no_entry(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, str(tmp_path / "data"))
    assert gerbang(env, "opd", "add", "--slug", "kota", "--name", "Kota", "--kind", "kota").exit_code == 0
    duplicate = gerbang(env, "opd", "add", "--slug", "kota", "--name", "Kota", "--kind", "kota")
    assert duplicate.exit_code == 1 and duplicate.stderr.startswith("error: ")
    assert [entry.action for entry in read_chain(database_url)] == ["opd.create"]


def test_checkpoint_command_signs_the_head(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, str(tmp_path / "data"))
    no_key = gerbang(env, "audit", "checkpoint")
    assert no_key.exit_code == 1 and "gerbang keys rotate" in no_key.stderr
    assert gerbang(env, "keys", "rotate").exit_code == 0
    result = gerbang(env, "audit", "checkpoint", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["seq"] == 1  # one JSON object, no log line mixed in
    again = gerbang(env, "audit", "checkpoint", "--json")
    assert json.loads(again.stdout) == {"seq": None}
    report = json.loads(gerbang(env, "audit", "verify", "--json").stdout)
    assert (report["entries"], report["checkpoints"], report["intact"]) == (2, 1, True)


def test_console_script_exits_non_zero_on_tampering(env: dict[str, str], database_url: str) -> None:
    script = Path(sys.executable).parent / "gerbang"
    run_env = {**os.environ, **env}
    run_sql(database_url, "DELETE FROM audit_log WHERE seq = 3")
    tampered = subprocess.run([str(script), "audit", "verify"], env=run_env, capture_output=True, text=True, timeout=60)
    assert tampered.returncode == EXIT_TAMPERED
    assert tampered.stdout.startswith("TAMPERED: seq 3 deleted")
    assert "Traceback" not in tampered.stderr


def test_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    env = cli_env("postgresql+asyncpg://nobody@127.0.0.1:1/none", str(tmp_path / "data"))
    result = gerbang(env, "audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
