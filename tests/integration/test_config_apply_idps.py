"""``gerbang apply`` / ``gerbang export`` carry the upstream identity providers (INApas, SSO ASN): created with a
credential the file only names (an environment variable, a key file), idempotent, changed in place, exported
without any credential, and export → apply on another database reproduces them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from idp.federation.registry import new_private_key_pem
from tests.support.cli_env import audit_entries, cli, use_database

CITY = """
idps:
  - slug: inapas
    name: INApas
    issuer: https://inapas.example.go.id/
    client_id: gerbang-palembang
    link_by: nik
    authoritative: true
    acr_map: {"urn:inapas:loa:high": "2", "urn:inapas:loa:low": "1"}
    for: citizens
    private_key_file: keys/inapas.pem
  - slug: sso-asn
    name: SSO ASN
    issuer: https://sso-siasn.bkn.go.id/auth/realms/asn
    client_id: gerbang
    scope: openid profile
    link_by: nip
    for: asn
    client_secret_env: SSO_ASN_SECRET
"""


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_database(monkeypatch, database_url, tmp_path)
    monkeypatch.setenv("SSO_ASN_SECRET", "rahasia-sso-asn-yang-panjang")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "inapas.pem").write_text(new_private_key_pem(), encoding="utf-8")
    path = tmp_path / "city.yaml"
    path.write_text(CITY, encoding="utf-8")
    return path


def idps() -> dict[str, dict]:
    return {record["slug"]: record for record in json.loads(cli("idps", "list", "--json").output)["idps"]}


def test_apply_creates_upstreams_then_changes_nothing(city: Path, database_url: str) -> None:
    first = json.loads(cli("apply", str(city), "--json").output)
    assert [(c["section"], c["key"], c["action"]) for c in first["changes"]] == [
        ("idp", "inapas", "create"),
        ("idp", "sso-asn", "create"),
    ]
    assert not any("rahasia" in json.dumps(c) for c in first["changes"])  # the secret is never echoed
    found = idps()
    assert found["inapas"]["client_auth"] == "private_key_jwt" and found["inapas"]["for"] == "citizens"
    assert found["inapas"]["acr_map"] == {"urn:inapas:loa:high": "2", "urn:inapas:loa:low": "1"}
    assert found["inapas"]["issuer"] == "https://inapas.example.go.id" and found["inapas"]["authoritative"] is True
    assert found["sso-asn"]["client_auth"] == "client_secret_basic" and found["sso-asn"]["link_by"] == "nip"
    again = cli("apply", str(city))
    assert "nothing to change" in again.output
    assert [e.action for e in audit_entries(database_url)].count("idps.add") == 2


def test_apply_changes_an_upstream_in_place_and_audits_it(city: Path, database_url: str) -> None:
    cli("apply", str(city))
    changed = CITY.replace("for: asn", "for: all").replace("name: SSO ASN", "name: SSO ASN BKN")
    city.write_text(changed.replace("    client_secret_env: SSO_ASN_SECRET\n", ""), encoding="utf-8")
    plan = json.loads(cli("apply", str(city), "--dry-run", "--json").output)
    assert [(c["key"], c["action"], sorted(c["values"])) for c in plan["changes"]] == [
        ("sso-asn", "update", ["audience", "name"])
    ]
    assert idps()["sso-asn"]["for"] == "asn"  # a dry run changes nothing
    cli("apply", str(city))
    assert idps()["sso-asn"]["for"] == "all" and idps()["sso-asn"]["name"] == "SSO ASN BKN"
    assert idps()["sso-asn"]["client_auth"] == "client_secret_basic"  # the credential kept
    assert "idps.update" in [e.action for e in audit_entries(database_url)]


@pytest.mark.parametrize(
    "entry,message",
    [
        ("{slug: x-idp, name: X, issuer: https://x.example, client_id: c}", "needs client_secret_env"),
        (
            "{slug: x-idp, name: X, issuer: https://x.example, client_id: c, client_secret_env: NOT_SET_ANYWHERE}",
            "NOT_SET_ANYWHERE is not set",
        ),
        ("{slug: x-idp, name: X, issuer: https://x.example, client_id: c, private_key_file: nope.pem}", "cannot read"),
        ("{slug: x-idp, name: X, issuer: http://x.example, client_id: c, client_secret_env: SSO_ASN_SECRET}", "https"),
        (
            "{slug: x-idp, name: X, issuer: https://x.example, client_id: c, client_secret_env: SSO_ASN_SECRET, "
            "link_by: email, authoritative: true}",
            "authoritative",
        ),
        (
            "{slug: x-idp, name: X, issuer: https://x.example, client_id: c, client_secret_env: A, "
            "private_key_file: k.pem}",
            "either",
        ),
        (
            "{slug: x-idp, name: X, issuer: https://x.example, client_id: c, client_secret: in-the-file}",
            "client_secret",
        ),
        ("{slug: x-idp, name: X, issuer: https://x.example, client_id: c, acr_map: {high: '3'}}", "acr_map"),
    ],
)
def test_bad_upstream_entries_are_refused_and_nothing_is_created(city: Path, entry: str, message: str) -> None:
    city.write_text(CITY + "  - " + entry + "\n", encoding="utf-8")
    refused = cli("apply", str(city), ok=False)
    assert refused.exit_code != 0 and message in refused.output, refused.output
    assert idps() == {}  # one transaction: the valid entries before it were not kept either


def test_export_has_no_credential_and_reapplies_on_an_empty_database(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _sqlite_template: Path
) -> None:
    cli("apply", str(city))
    exported = cli("export").output
    assert "rahasia" not in exported and "PRIVATE KEY" not in exported and "private_key_file" not in exported
    original = yaml.safe_load(exported)["idps"]
    entries = {entry["slug"]: entry for entry in original}
    assert entries["inapas"]["for"] == "citizens" and entries["inapas"]["link_by"] == "nik"
    # The exported file is the desired state: applied where it came from, it changes nothing.
    (tmp_path / "exported.yaml").write_text(exported, encoding="utf-8")
    assert "nothing to change" in cli("apply", str(tmp_path / "exported.yaml")).output
    # On an empty database an operator adds the credential references and gets the same upstreams back.
    other = tmp_path / "other.db"
    shutil.copy(_sqlite_template, other)
    monkeypatch.setenv("GERBANG_DATABASE_URL", f"sqlite+aiosqlite:///{other}")
    data = yaml.safe_load(exported)
    entries = {entry["slug"]: entry for entry in data["idps"]}
    entries["inapas"]["private_key_file"] = str(tmp_path / "keys" / "inapas.pem")
    entries["sso-asn"]["client_secret_env"] = "SSO_ASN_SECRET"
    (tmp_path / "restored.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    cli("apply", str(tmp_path / "restored.yaml"))
    assert yaml.safe_load(cli("export").output)["idps"] == original
    assert {slug: r["client_auth"] for slug, r in idps().items()} == {
        "inapas": "private_key_jwt",
        "sso-asn": "client_secret_basic",
    }
