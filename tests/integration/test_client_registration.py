"""Dynamic client registration (RFC 7591) and management (RFC 7592) on a real hub, gated by Kominfo's
initial access tokens; registered clients wait for approval in the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.support.admin import BPKAD_ADMIN, KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import Hub, run_hub

METADATA = {
    "client_name": "Integrasi Bapenda",
    "grant_types": ["client_credentials"],
    "scope": "pajak:read",
    "token_endpoint_auth_method": "client_secret_basic",
    "software_id": "ignored-member",
}


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, AdminClient]]:
    with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as running:
        run_seed(database_url, running.seeded.users)
        kominfo = AdminClient(running, admin_token(running, KOMINFO))
        yield running, kominfo
        kominfo.close()


def initial_token(kominfo: AdminClient, **body: object) -> str:
    response = kominfo.post("/initial-access-tokens", dict(body))
    assert response.status_code == 201, response.text
    return str(response.json()["initial_access_token"])


def register(hub: Hub, token: str | None, metadata: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{hub.url}/auth/clients", json=metadata, headers=headers)


def client_credentials(hub: Hub, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "pajak:read"},
    )


def test_register_wait_for_approval_then_manage(hub: tuple[Hub, AdminClient]) -> None:
    running, kominfo = hub
    discovery = httpx.get(f"{running.url}/.well-known/openid-configuration").json()
    assert discovery["registration_endpoint"] == f"{running.url}/auth/clients"
    token = initial_token(kominfo, opd="bpkad")
    created = register(running, token, METADATA)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["status"] == "pending" and doc["client_secret_expires_at"] == 0 and "software_id" not in doc
    assert client_credentials(running, doc["client_id"], doc["client_secret"]).status_code == 401  # pending
    assert register(running, token, METADATA).status_code == 401  # the initial token was single use

    approved = kominfo.post(f"/clients/{doc['client_id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert client_credentials(running, doc["client_id"], doc["client_secret"]).status_code == 200
    listed = kominfo.get("/clients", q=doc["client_id"]).json()["items"]
    assert listed[0]["opd"] == "bpkad"
    # An OPD admin sees their OPD's registered client but cannot approve or suspend it.
    bpkad = AdminClient(running, admin_token(running, BPKAD_ADMIN))
    assert [c["client_id"] for c in bpkad.get("/clients").json()["items"]] == [doc["client_id"]]
    assert bpkad.post(f"/clients/{doc['client_id']}/suspend").status_code == 403
    assert bpkad.post("/initial-access-tokens", {}).status_code == 403
    bpkad.close()

    manage = {"Authorization": f"Bearer {doc['registration_access_token']}"}
    uri = doc["registration_client_uri"]
    read = httpx.get(uri, headers=manage)
    assert read.status_code == 200 and read.json()["client_name"] == "Integrasi Bapenda"
    assert "client_secret" not in read.json() and "registration_access_token" not in read.json()
    changed = httpx.put(
        uri, headers=manage, json={**METADATA, "client_id": doc["client_id"], "client_name": "Integrasi Bapenda v2"}
    )
    assert changed.status_code == 200 and changed.json()["status"] == "pending"  # reviewed again
    assert client_credentials(running, doc["client_id"], doc["client_secret"]).status_code == 401
    assert httpx.get(uri, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.delete(uri, headers=manage).status_code == 204
    assert httpx.get(uri, headers=manage).status_code == 401
    actions = [e["action"] for e in kominfo.get("/audit", target=f"client:{doc['client_id']}").json()["items"]]
    assert actions == ["client.delete", "client.update", "client.approve", "client.register"]


@pytest.mark.parametrize(
    "metadata,error",
    [
        (
            {**METADATA, "grant_types": ["authorization_code"], "redirect_uris": ["http://evil.example/cb"]},
            "invalid_redirect_uri",
        ),
        ({**METADATA, "grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({**METADATA, "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({**METADATA, "redirect_uris": "not-a-list"}, "invalid_client_metadata"),
        # jwks_uri (RFC 7591 §2): the hub fetches it, so the addresses it may reach are Kominfo's to allow
        (
            {
                **METADATA,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://169.254.169.254/latest/meta-data/jwks",
            },
            "invalid_client_metadata",
        ),
        (
            {
                **METADATA,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://[::ffff:169.254.169.254]/jwks",
            },
            "invalid_client_metadata",
        ),
        (
            {
                **METADATA,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "http://keys.bapenda.example/jwks",
            },
            "invalid_client_metadata",
        ),
        (
            {**METADATA, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://keys.example/jwks#x"},
            "invalid_client_metadata",
        ),
        (
            {
                **METADATA,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://keys.example/jwks",
                "jwks": {"keys": []},
            },
            "invalid_client_metadata",
        ),
    ],
)
def test_bad_metadata_is_refused_and_keeps_the_initial_token(
    hub: tuple[Hub, AdminClient], metadata: dict[str, object], error: str
) -> None:
    running, kominfo = hub
    token = initial_token(kominfo)
    refused = register(running, token, metadata)
    assert refused.status_code == 400 and refused.json()["error"] == error, refused.text
    assert register(running, token, METADATA).status_code == 201  # a refused attempt did not use it up


def test_registration_needs_a_valid_initial_token(hub: tuple[Hub, AdminClient]) -> None:
    running, _ = hub
    for token in (None, "made-up"):
        response = register(running, token, METADATA)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    raw = httpx.post(
        f"{running.url}/auth/clients",
        content=b"{",
        headers={"Authorization": "Bearer x", "content-type": "application/json"},
    )
    assert raw.status_code == 401  # the token is checked before the body is read


def test_cli_issues_an_initial_access_token(database_url: str, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from gateway.cli import main

    env = {"GERBANG_DATABASE_URL": database_url, "GERBANG_DATA_DIR": str(tmp_path), "GERBANG_SECRET_KEY": "k" * 40}
    runner = CliRunner()
    assert (
        runner.invoke(main, ["opd", "add", "--slug", "bpkad", "--name", "BPKAD", "--kind", "badan"], env=env).exit_code
        == 0
    )
    result = runner.invoke(main, ["clients", "initial-token", "--opd", "bpkad", "--json"], env=env)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert len(record["initial_access_token"]) >= 40 and record["opd"] == "bpkad"
    missing = runner.invoke(main, ["clients", "initial-token", "--opd", "nowhere"], env=env)
    assert missing.exit_code == 1 and missing.output.startswith("error:")
