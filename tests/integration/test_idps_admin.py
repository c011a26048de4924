"""Kominfo's upstream identity providers through ``gerbang idps`` and ``/admin/api/idps``: secrets sealed at rest
and never shown, every change audited, only Kominfo admins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from gateway.app import create_app
from gateway.cli import main
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry, UpstreamIdp
from tests.support.admin import DISHUB_ADMIN, KOMINFO, AdminClient, admin_token, run_seed
from tests.support.hub import Hub, run_hub

SECRET = "rahasia-klien-sso-asn-2026"


def pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def _rows(database_url: str, model: type) -> list:
    engine = build_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            return list((await session.scalars(select(model))).all())
    finally:
        await engine.dispose()


def rows(database_url: str, model: type) -> list:
    return asyncio.run(_rows(database_url, model))


@pytest.fixture
def run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"GERBANG_DATABASE_URL": database_url, "GERBANG_DATA_DIR": str(tmp_path), "GERBANG_SECRET_KEY": "k" * 40}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, list(args), env=env, input=stdin)

    return invoke


def one_json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.strip()]
    return json.loads(line)


def test_cli_adds_lists_updates_and_removes(run, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    added = one_json(
        run(
            "idps",
            "add",
            "--slug",
            "sso-asn",
            "--name",
            "SSO ASN",
            "--issuer",
            "https://sso-siasn.bkn.go.id/auth/realms/sso",
            "--client-id",
            "gerbang-palembang",
            "--client-secret-stdin",
            "--link-by",
            "nip",
            "--authoritative",
            "--acr-map",
            "gold=2",
            "--for",
            "asn",
            "--json",
            stdin=SECRET + "\n",
        )
    )
    assert added["client_auth"] == "client_secret_basic" and added["acr_map"] == {"gold": "2"}
    assert added["for"] == "asn" and SECRET not in json.dumps(added)
    [row] = rows(database_url, UpstreamIdp)
    assert row.client_secret and SECRET not in row.client_secret  # sealed at rest
    key_file = tmp_path / "inapas.pem"
    key_file.write_text(pem())
    inapas = one_json(
        run(
            "idps",
            "add",
            "--slug",
            "inapas",
            "--name",
            "INApas",
            "--issuer",
            "https://inapas.id/oidc",
            "--client-id",
            "palembang",
            "--private-key-file",
            str(key_file),
            "--link-by",
            "nik",
            "--for",
            "citizens",
            "--json",
        )
    )
    assert inapas["client_auth"] == "private_key_jwt" and inapas["public_jwk"]["kty"] == "EC"
    assert "d" not in inapas["public_jwk"] and "PRIVATE" not in json.dumps(inapas)
    updated = one_json(run("idps", "update", "inapas", "--disable", "--acr-map", "high=2", "--json"))
    assert updated["enabled"] is False and updated["acr_map"] == {"high": "2"}
    assert [r["slug"] for r in one_json(run("idps", "list", "--json"))["idps"]] == ["inapas", "sso-asn"]
    assert one_json(run("idps", "remove", "sso-asn", "--json")) == {"removed": "sso-asn"}
    actions = [e.action for e in rows(database_url, AuditEntry) if e.target.startswith("idp:")]
    assert actions == ["idps.add", "idps.add", "idps.update", "idps.remove"]


@pytest.mark.parametrize(
    "issuer,extra,message",
    [
        ("http://inapas.id", [], "https"),
        ("https://inapas.id?x=1", [], "query"),
        ("https://inapas.id", ["--acr-map", "high=3"], "acr map"),
        ("https://inapas.id", ["--link-by", "email", "--authoritative"], "authoritative"),
        ("https://inapas.id", ["--scope", "profile email"], "openid"),
    ],
)
def test_cli_refuses_bad_upstreams(
    run,
    database_url: str,
    issuer: str,
    extra: list[str],  # type: ignore[no-untyped-def]
    message: str,
) -> None:
    result = run(
        "idps",
        "add",
        "--slug",
        "inapas",
        "--name",
        "INApas",
        "--issuer",
        issuer,
        "--client-id",
        "c",
        "--client-secret-stdin",
        *extra,
        stdin=SECRET + "\n",
    )
    assert result.exit_code == 1 and message in result.output
    assert rows(database_url, UpstreamIdp) == []


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with run_hub(database_url, tmp_path, app_factory=create_app) as running:
        run_seed(database_url, running.seeded.users)
        yield running


def test_admin_api_manages_upstreams_for_kominfo_only(hub: Hub) -> None:
    kominfo = AdminClient(hub, admin_token(hub, KOMINFO))
    dishub = AdminClient(hub, admin_token(hub, DISHUB_ADMIN))
    body = {
        "slug": "inapas",
        "name": "INApas",
        "issuer": "https://inapas.id/oidc",
        "client_id": "palembang",
        "link_by": "nik",
        "authoritative": True,
        "acr_map": ["high=2"],
        "for": "citizens",
    }
    assert dishub.post("/idps", body).status_code == 403
    created = kominfo.post("/idps", body)
    assert created.status_code == 201, created.text
    jwk = created.json()["public_jwk"]  # the hub made the key pair: only the public half is ever shown
    assert created.json()["client_auth"] == "private_key_jwt" and jwk["kty"] == "EC" and "d" not in jwk
    assert created.json()["acr_map"] == {"high": "2"}
    assert kominfo.post("/idps", body).status_code == 409
    changed = kominfo.http.patch("/idps/inapas", json={"enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    bad = kominfo.http.patch("/idps/inapas", json={"acr_map": ["high=9"]})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    email_authority = kominfo.http.patch("/idps/inapas", json={"link_by": "email"})
    assert email_authority.status_code == 409  # authoritative for email addresses: never
    rotated = kominfo.http.patch("/idps/inapas", json={"new_key": True})
    assert rotated.status_code == 200 and rotated.json()["public_jwk"]["kid"] != jwk["kid"]
    to_secret = kominfo.http.patch("/idps/inapas", json={"client_secret": SECRET})
    assert to_secret.json()["client_auth"] == "client_secret_basic" and "public_jwk" not in to_secret.json()
    assert [i["slug"] for i in kominfo.get("/idps").json()["items"]] == ["inapas"]
    assert dishub.get("/idps").status_code == 403
    user_id = hub.seeded.users["warga@example.id"]
    assert kominfo.get(f"/users/{user_id}/identities").json() == {"items": []}
    assert kominfo.http.delete("/idps/inapas").json() == {"removed": "inapas"}
    assert kominfo.get("/idps/inapas").status_code == 404
    kominfo.close()
    dishub.close()


def test_console_lists_upstreams_and_turns_them_off_for_kominfo_only(hub: Hub) -> None:
    import re

    from tests.support.hub import Browser

    kominfo = AdminClient(hub, admin_token(hub, KOMINFO))
    assert (
        kominfo.post(
            "/idps",
            {
                "slug": "inapas",
                "name": "INApas",
                "issuer": "https://inapas.id/oidc",
                "client_id": "palembang",
                "link_by": "nik",
                "acr_map": ["high=2"],
            },
        ).status_code
        == 201
    )
    kominfo.close()
    console = Browser(hub)
    landed = console.login(console.go("/admin/"), KOMINFO)
    assert landed.status_code == 200 and 'href="/admin/penyedia-identitas"' in landed.text
    page = console.go("/admin/penyedia-identitas")
    assert page.status_code == 200 and 'data-slug="inapas"' in page.text and "high → 2" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = console.submit("/admin/aksi/penyedia-identitas/inapas/disable", {"csrf_token": csrf})
    assert done.status_code == 200 and "inapas" in done.text
    assert [r.enabled for r in rows(hub.settings.database_url, UpstreamIdp)] == [False]
    assert "idps.update" in [e.action for e in rows(hub.settings.database_url, AuditEntry)]
    other = Browser(hub)
    other.login(other.go("/admin/"), DISHUB_ADMIN)
    assert other.go("/admin/penyedia-identitas").status_code == 403
    console.close()
    other.close()
