"""``gerbang apply`` carries a client's FAPI 2.0 profile, PAR/DPoP requirements, ID token algorithm and
``jwks_uri``, under the same rules as ``gerbang clients add`` (the profile needs private_key_jwt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.storage.models import Client
from tests.support.cli_env import audit_entries, cli, run_query, use_database

CITY = """
clients:
  - client_id: bapenda-fapi
    name: Bapenda FAPI
    redirect_uris: [https://pajak.bapenda.example/cb]
    auth_method: private_key_jwt
    jwks_uri: https://pajak.bapenda.example/jwks.json
    profile: fapi2
    id_token_alg: PS256
"""


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_database(monkeypatch, database_url, tmp_path)
    path = tmp_path / "city.yaml"
    path.write_text(CITY, encoding="utf-8")
    return path


def stored(database_url: str) -> Client:
    return run_query(database_url, select(Client).where(Client.client_id == "bapenda-fapi"))[0][0]


def test_apply_creates_a_fapi2_client_with_a_jwks_uri_and_is_idempotent(city: Path, database_url: str) -> None:
    cli("apply", str(city))
    client = stored(database_url)
    assert (client.profile, client.require_par, client.dpop_bound, client.id_token_alg) == (
        "fapi2",
        True,
        True,
        "PS256",
    )
    assert client.jwks_uri == "https://pajak.bapenda.example/jwks.json" and client.secret_digest is None
    assert "nothing to change" in cli("apply", str(city)).output
    exported = cli("export").output
    assert "profile: fapi2" in exported and "jwks_uri: https://pajak.bapenda.example/jwks.json" in exported


def test_apply_changes_the_profile_in_place_under_the_profile_rules(city: Path, database_url: str) -> None:
    cli("apply", str(city))
    city.write_text(CITY.replace("id_token_alg: PS256", "id_token_alg: EdDSA"), encoding="utf-8")
    plan = json.loads(cli("apply", str(city), "--json").output)["changes"]
    assert [(c["action"], list(c["values"])) for c in plan] == [("security", ["id_token_alg"])]
    assert stored(database_url).id_token_alg == "EdDSA"
    assert "client.security" in [e.action for e in audit_entries(database_url)]
    city.write_text(CITY.replace("id_token_alg: PS256", "id_token_alg: RS256"), encoding="utf-8")
    refused = cli("apply", str(city), ok=False)  # FAPI 2.0 signs with PS256, ES256 or EdDSA only
    assert refused.exit_code != 0 and "fapi2" in refused.output
    assert stored(database_url).id_token_alg == "EdDSA"


@pytest.mark.parametrize(
    "change,message",
    [
        (("auth_method: private_key_jwt", "auth_method: client_secret_basic"), "private_key_jwt"),
        (("jwks_uri: https://pajak.bapenda.example/jwks.json", "jwks_uri: http://169.254.169.254/jwks"), "jwks_uri"),
    ],
)
def test_apply_refuses_a_client_the_profile_or_the_addresses_forbid(
    city: Path, change: tuple[str, str], message: str
) -> None:
    city.write_text(CITY.replace(*change), encoding="utf-8")
    refused = cli("apply", str(city), ok=False)
    assert refused.exit_code != 0 and message in refused.output, refused.output
