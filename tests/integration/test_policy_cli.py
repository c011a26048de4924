"""``gerbang policy check|explain|test`` through click, against the shipped set, fixtures and a real database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from idp.accounts import add_user
from idp.org import add_opd, load_opd
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from policies import DEFAULT_POLICY_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
SIMPUS_STAFF = ["--app", "simpus", "--path", "/pasien/1", "--at", "2026-01-05T10:00:00+07:00"]


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GERBANG_POLICY_DIR", "GERBANG_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GERBANG_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("GERBANG_DATA_DIR", str(tmp_path / "data"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["policy", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_check_defaults_to_the_shipped_set() -> None:
    code, out, _ = run("check")
    assert code == 0 and out.startswith(f"ok: {DEFAULT_POLICY_DIR}: ")


def test_check_uses_the_configured_policy_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GERBANG_POLICY_DIR", str(FIXTURES / "bad-cidr"))
    code, out, err = run("check")
    assert code == 1 and "10-rules.yaml:8: rules[0].match.ips[1]:" in out


def test_check_prints_every_problem_and_fails() -> None:
    code, out, err = run("check", str(FIXTURES / "bad-many-problems"))
    assert code == 1
    assert len(out.strip().splitlines()) == 7
    assert err == f"error: 7 problem(s) in {FIXTURES / 'bad-many-problems'}\n"


def test_explain_prints_the_decision_and_every_rule() -> None:
    code, out, _ = run("explain", "--user", "u1", "--opd-path", "/kota-palembang/dinkes/puskesmas-x/", *SIMPUS_STAFF)
    assert code == 0
    assert out.splitlines()[:2] == ["decision: allow (allowed by simpus-health-staff)", "rules: simpus-health-staff"]
    assert any(line.split()[:3] == ["simpeg-bkpsdm-staff", "allow", "no"] for line in out.splitlines())


def test_explain_json_shows_step_up_and_failed_conditions() -> None:
    code, out, _ = run(
        "explain",
        "--json",
        "--user",
        "u1",
        "--role",
        "kepala",
        "--acr",
        "2",
        "--opd-path",
        "/kota-palembang/dinkes/",
        "--app",
        "simpus",
        "--path",
        "/export",
        "--ip",
        "10.0.0.9",
        "--at",
        "2026-01-05T10:00:00+07:00",
    )
    record = json.loads(out)
    assert code == 0 and record["allowed"] is False and record["required_acr"] == "3"
    traces = {trace["rule_id"]: trace for trace in record["rules"]}
    assert traces["simpus-exports-kepala-passkey"]["failed"] == "acr"
    assert record["subject"] == {
        "sub": "u1",
        "roles": ["kepala"],
        "opd_paths": ["/kota-palembang/dinkes/"],
        "source": "given",
    }


def test_explain_reports_report_only_rules() -> None:
    code, out, _ = run(
        "explain",
        "--user",
        "u1",
        "--opd-path",
        "/kota-palembang/bappeda/",
        "--acr",
        "2",
        "--app",
        "e-budgeting",
        "--method",
        "post",
        "--path",
        "/anggaran",
        "--at",
        "2026-01-06T23:00:00+07:00",
    )
    assert code == 0
    assert "report-only: e-budgeting-night-writes-trial (enforced, the decision would be deny)" in out.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "2026-01-05T10:00:00"], "error: --at needs a UTC offset, e.g. 2026-01-05T10:00:00+07:00\n"),
        (["--at", "yesterday"], "error: --at 'yesterday' is not an ISO 8601 time\n"),
        (["--ip", "10.0.0.300"], "error: --ip '10.0.0.300' is not an IP address\n"),
        (["--path", "pasien"], "error: --path must start with '/'\n"),
    ],
)
def test_explain_refuses_bad_options_in_one_line(args: list[str], message: str) -> None:
    code, out, err = run("explain", "--app", "simpus", *args)
    assert (code, out, err) == (1, "", message)


def test_explain_against_an_invalid_directory_lists_its_problems() -> None:
    code, out, err = run("explain", "--app", "x", "--dir", str(FIXTURES / "bad-glob"))
    assert code == 1 and "unterminated '['" in out and err.startswith("error: 1 problem(s)")


def test_explain_looks_the_user_up_in_the_configured_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = asyncio.run(_seed_nurse(database_url))
    monkeypatch.setenv("GERBANG_DATABASE_URL", database_url)
    code, out, _ = run("explain", "--json", "--user", "perawat@palembang.go.id", *SIMPUS_STAFF)
    record = json.loads(out)
    assert code == 0 and record["allowed"] is True and record["rule_ids"] == ["simpus-health-staff"]
    assert record["subject"] == {
        "sub": user_id,
        "roles": ["perawat"],
        "opd_paths": ["/kota-palembang/dinkes/puskesmas-plaju/"],
        "source": "database",
    }
    code, out, _ = run("explain", "--json", "--user", "nobody@palembang.go.id", *SIMPUS_STAFF)
    assert json.loads(out)["subject"]["source"] == "given" and json.loads(out)["allowed"] is False


def test_explain_reads_the_app_registry_restricted_flag(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_seed_nurse(database_url))
    args = [
        "explain",
        "--json",
        "--user",
        "perawat@palembang.go.id",
        "--app",
        "sampah",
        "--path",
        "/jadwal",
        "--at",
        "2026-01-05T10:00:00+07:00",
    ]
    assert json.loads(run(*args)[1])["allowed"] is True  # no database: an unlisted app is open
    assert json.loads(run(*args, "--restricted")[1])["allowed"] is False
    monkeypatch.setenv("GERBANG_DATABASE_URL", database_url)
    record = json.loads(run(*args)[1])
    assert record["allowed"] is False and record["reason"] == "app sampah is restricted and no rule allows"


async def _seed_nurse(database_url: str) -> str:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await add_opd(session, "kota-palembang", "Kota Palembang", "kota", None, 0)
            await add_opd(session, "dinkes", "Dinas Kesehatan", "dinas", "kota-palembang", 0)
            await add_opd(session, "puskesmas-plaju", "Puskesmas Plaju", "puskesmas", "dinkes", 0)
            user = await add_user(
                session,
                email="perawat@palembang.go.id",
                name="Perawat",
                password_hash=None,
                now=0,
                opd_slug="puskesmas-plaju",
                roles=("perawat",),
            )
            dinkes = await load_opd(session, "dinkes")
            session.add(
                App(
                    slug="sampah",
                    name="Sampah",
                    opd_id=dinkes.id,
                    upstreams=["http://127.0.0.1:9"],
                    auth_mode="session",
                    restricted=True,
                    created_at=0,
                    updated_at=0,
                )
            )
            return user.id
    finally:
        await engine.dispose()


def test_policy_test_runs_the_shipped_cases() -> None:
    code, out, _ = run("test")
    assert code == 0 and out.splitlines()[-1].endswith("passed, 0 failed")
    assert all(line.startswith("PASS ") for line in out.splitlines()[:-1])


def test_policy_test_fails_on_a_wrong_expectation() -> None:
    code, out, _ = run("test", "--json", str(FIXTURES / "failing-case"))
    record = json.loads(out)
    assert code == 1 and (record["passed"], record["failed"]) == (1, 1)
    assert record["cases"][1]["detail"].endswith("expected allow")
