"""``gerbang apply`` / ``gerbang export`` carry an app's ``require_dpop`` (DPoP-bound tokens only, RFC 9449):
created, exported, changed in place and audited, refused for apps that are not bearer apps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from idp.storage.gateway_models import App
from tests.integration.test_config_apply import _file
from tests.support.cli_env import audit_entries, cli, run_query, use_database

CITY = """
opd:
  - {slug: kota-palembang, name: Pemerintah Kota Palembang, kind: kota}
  - {slug: bpkad, name: BPKAD, kind: badan, parent: kota-palembang}
apps:
  - {slug: e-budgeting, opd: bpkad, upstreams: [http://10.0.4.5:8080], auth_mode: bearer, require_dpop: true}
  - {slug: laporan, opd: bpkad, upstreams: [http://10.0.4.6:8080], auth_mode: bearer}
"""


@pytest.fixture
def empty(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    return database_url


def _required(database_url: str) -> dict[str, bool]:
    return {slug: bool(flag) for slug, flag in run_query(database_url, select(App.slug, App.require_dpop))}


def test_apply_and_export_carry_require_dpop(empty: str, tmp_path: Path) -> None:
    cli("apply", _file(tmp_path, "city.yaml", CITY))
    assert _required(empty) == {"e-budgeting": True, "laporan": False}
    exported = {app["slug"]: app for app in yaml.safe_load(cli("export").stdout)["apps"]}
    assert exported["e-budgeting"]["require_dpop"] is True and exported["laporan"]["require_dpop"] is False
    assert "nothing to change" in cli("apply", str(tmp_path / "city.yaml")).stdout
    seq = audit_entries(empty)[-1].seq
    flipped = CITY.replace("require_dpop: true", "require_dpop: false").replace(
        "auth_mode: bearer}", "auth_mode: bearer, require_dpop: true}"
    )
    cli("apply", _file(tmp_path, "flipped.yaml", flipped))
    assert _required(empty) == {"e-budgeting": False, "laporan": True}
    diffs = [e.detail["diff"] for e in audit_entries(empty, seq) if e.action == "app.update"]
    assert sorted(d["require_dpop"]["to"] for d in diffs) == [False, True]
    omitted = "apps:\n  - {slug: laporan, opd: bpkad, upstreams: [http://10.0.4.6:8080], auth_mode: bearer}\n"
    assert "nothing to change" in cli("apply", _file(tmp_path, "omitted.yaml", omitted)).stdout  # kept as it is


def test_require_dpop_on_a_session_app_is_refused(empty: str, tmp_path: Path) -> None:
    session_app = CITY.replace("auth_mode: bearer, require_dpop: true}", "auth_mode: session, require_dpop: true}")
    refused = cli("apply", _file(tmp_path, "bad.yaml", session_app), ok=False)
    assert refused.exit_code != 0 and "require-dpop" in refused.output
    assert _required(empty) == {}


def test_the_shipped_demo_city_requires_dpop_at_e_budgeting(empty: str) -> None:
    city = str(Path(__file__).resolve().parents[2] / "deploy" / "palembang-demo.yaml")
    cli("apply", city)
    assert _required(empty)["e-budgeting"] is True
