"""Kominfo's profile rule at every door that registers or changes a client or an app (both backends), under the
shipped policy set (rule ``fapi2-for-restricted-apps``; e-budgeting is restricted there): a change that would leave
a restricted app with a client outside FAPI 2.0 is refused whole, naming the rule, whichever side changes last."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from gateway.admin.actor import Actor
from gateway.admin.bodies import AppSubmission, ClientSecurityRequest
from gateway.admin.client_review import set_client_security
from gateway.admin.registration import approve_app, submit_app
from gateway.apps import add_app
from gateway.errors import BadRequest
from idp.client_registration import RegistrationError, issue_initial_token, register_client, update_client
from idp.dpop.client import public_jwk
from idp.errors import InvalidInput
from idp.profile_rule import ProfileGuard
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.gateway_models import App
from idp.storage.models import Client
from policies import DEFAULT_POLICY_DIR, load_policy_dir
from tests.support.cli_env import CLI_ISSUER, cli, run_query, use_database
from tests.support.hub import TEST_UPSTREAM_ADDRESSES

BUDGET = "http://e-budgeting.localhost:8000/"  # e-budgeting's default resource under the CLI's issuer
JWKS_URI = "https://pajak.bapenda.example/jwks.json"
RULE = "fapi2-for-restricted-apps"


@pytest.fixture
def city(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_database(monkeypatch, database_url, tmp_path)
    cli("opd", "add", "--slug", "kota", "--name", "Kota Palembang", "--kind", "kota")
    cli("opd", "add", "--slug", "bpkad", "--name", "BPKAD", "--kind", "badan", "--parent", "kota")
    return database_url


def _refused(*args: str) -> str:
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.output
    assert RULE in result.stderr, result.stderr
    return result.stderr


def _add_client(client_id: str, *extra: str) -> None:
    cli("clients", "add", "--name", client_id, "--client-id", client_id, "--opd", "bpkad", "--grant",
        "client_credentials", "--scope", "budget.read", *extra)  # fmt: skip


def _apps(database_url: str) -> dict[str, tuple[str | None, bool]]:
    return {app.slug: (app.client_id, app.restricted) for (app,) in run_query(database_url, select(App))}


def test_the_cli_doors_refuse_a_restricted_app_with_a_client_outside_the_profile(city: str) -> None:
    budget_app = ("apps", "add", "--slug", "e-budgeting", "--opd", "bpkad", "--upstream", "http://127.0.0.1:9004",
                  "--auth", "bearer")  # fmt: skip
    _add_client("kas-lama", "--resource", BUDGET)  # no app yet: nothing to break
    # the app after its client: refused, nothing registered
    assert "kas-lama" in _refused(*budget_app)
    assert "e-budgeting" not in _apps(city)
    cli("clients", "remove", "kas-lama", "--yes")
    _add_client("kas-fapi", "--resource", BUDGET, "--profile", "fapi2", "--auth-method", "private_key_jwt",
                "--jwks-uri", JWKS_URI)  # fmt: skip
    cli(*budget_app, "--client", "kas-fapi")
    # the client after the app: by its resource, by a later update, by swapping the app's client
    _refused("clients", "add", "--name", "x", "--client-id", "kas-baru", "--grant", "client_credentials",
             "--resource", BUDGET)  # fmt: skip
    _add_client("parkir-web")
    _refused("clients", "update", "parkir-web", "--resource", BUDGET)
    _refused("apps", "update", "e-budgeting", "--client", "parkir-web")
    assert _apps(city)["e-budgeting"] == ("kas-fapi", False)
    # an app the policy files do not restrict becomes restricted in the registry: its client must follow too
    cli("apps", "add", "--slug", "parkir", "--opd", "bpkad", "--upstream", "http://127.0.0.1:9002", "--auth",
        "session", "--client", "parkir-web")  # fmt: skip
    _refused("apps", "update", "parkir", "--restricted")
    assert _apps(city)["parkir"] == ("parkir-web", False)
    cli("apps", "update", "parkir", "--restricted", "--client", "")  # unlinked, it may be restricted


def test_apply_checks_the_whole_document_against_the_rule(city: str, tmp_path: Path) -> None:
    _add_client("parkir-web")
    cli("apps", "add", "--slug", "parkir", "--opd", "bpkad", "--upstream", "http://127.0.0.1:9002", "--auth",
        "session", "--client", "parkir-web")  # fmt: skip
    exported = yaml.safe_load(cli("export").stdout)
    [parkir] = [app for app in exported["apps"] if app["slug"] == "parkir"]
    parkir["restricted"] = True
    document = tmp_path / "city.yaml"
    document.write_text(yaml.safe_dump(exported), encoding="utf-8")
    result = cli("apply", str(document), ok=False)
    assert result.exit_code == 1 and RULE in result.stderr and "parkir-web" in result.stderr
    assert _apps(city)["parkir"] == ("parkir-web", False)  # one transaction: nothing of the document applied
    parkir["client_id"] = None  # the same document, the app unlinked from the client outside the profile
    document.write_text(yaml.safe_dump(exported), encoding="utf-8")
    plan = json.loads(cli("apply", str(document), "--json").stdout)
    assert plan["changed"] and _apps(city)["parkir"] == (None, True)


def test_the_admin_and_registration_doors_keep_a_restricted_apps_client_in_the_profile(city: str) -> None:
    """Kominfo's security form (admin API PUT /clients/{id}/security, the console) and RFC 7592 updates by the
    client itself cannot take the profile away while the client serves a restricted app."""
    database_url = city
    guard = ProfileGuard(lambda: load_policy_dir(DEFAULT_POLICY_DIR), CLI_ISSUER, "")
    jwks = {"keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()))]}
    kominfo = Actor("kominfo-admin", True, (), ())

    async def run() -> tuple[str, str]:
        engine = build_engine(database_url)
        maker = build_sessionmaker(engine)
        now = int(time.time())
        metadata = {"client_name": "Kas", "grant_types": ["client_credentials"], "scope": "openid",
                    "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks, "security_profile": "fapi2"}  # fmt: skip
        try:
            async with maker() as session, session.begin():
                token, _ = await issue_initial_token(session, created_by="test", opd_slug=None, ttl=60, now=now)
                document = await register_client(session, token, json.dumps(metadata).encode(), CLI_ISSUER, now)
                await add_app(
                    session,
                    slug="e-budgeting",
                    opd_slug="bpkad",
                    upstreams=("http://127.0.0.1:9004",),
                    auth_mode="bearer",
                    issuer=CLI_ISSUER,
                    now=now,
                    client_id=document["client_id"],
                    addresses=TEST_UPSTREAM_ADDRESSES,
                )
            client_id = document["client_id"]
            async with maker() as session, session.begin():
                with pytest.raises(BadRequest) as downgraded:
                    await set_client_security(session, kominfo, client_id, ClientSecurityRequest(), now, guard)
                await session.rollback()
            async with maker() as session, session.begin():
                client = await session.scalar(select(Client).where(Client.client_id == client_id))
                assert client is not None and client.profile == "fapi2"
                plain = {**metadata, "client_id": client_id, "security_profile": None}
                with pytest.raises(RegistrationError) as updated:
                    await update_client(session, client, json.dumps(plain).encode(), now, guard)
                assert updated.value.error == "invalid_client_metadata"
                await session.rollback()
            return downgraded.value.detail, updated.value.message
        finally:
            await engine.dispose()

    admin_error, registration_error = asyncio.run(run())
    assert RULE in admin_error and RULE in registration_error
    [(client,)] = run_query(database_url, select(Client).where(Client.profile == "fapi2"))
    assert client.profile == "fapi2"


def test_a_submission_for_a_restricted_app_needs_a_fapi2_client_and_its_approval_links_one(city: str) -> None:
    """The console's and the admin API's submission and approval (``gateway.admin.registration``)."""
    guard = ProfileGuard(lambda: load_policy_dir(DEFAULT_POLICY_DIR), CLI_ISSUER, "")
    kominfo = Actor("kominfo-admin", True, (), ())
    fields = {"slug": "e-budgeting", "name": "E-Budgeting", "opd": "bpkad", "upstreams": ["http://127.0.0.1:9004"],
              "auth_mode": "bearer", "contact": "tim@bpkad.example.id"}  # fmt: skip

    async def run() -> str:
        engine = build_engine(city)
        maker = build_sessionmaker(engine)
        now = int(time.time())
        try:
            async with maker() as session, session.begin():
                with pytest.raises(InvalidInput) as plain:
                    await submit_app(session, kominfo, AppSubmission(**fields), CLI_ISSUER, now, profiles=guard)
                await session.rollback()
            async with maker() as session, session.begin():
                fapi = AppSubmission(**fields, client_profile="fapi2", jwks_uri=JWKS_URI)
                await submit_app(session, kominfo, fapi, CLI_ISSUER, now, TEST_UPSTREAM_ADDRESSES, profiles=guard)
                await approve_app(
                    session, kominfo, "e-budgeting", CLI_ISSUER, now, TEST_UPSTREAM_ADDRESSES, profiles=guard
                )
            return plain.value.message
        finally:
            await engine.dispose()

    assert RULE in asyncio.run(run())
    [(app,)] = run_query(city, select(App).where(App.slug == "e-budgeting"))
    [(client,)] = run_query(city, select(Client).where(Client.client_id == app.client_id))
    assert (app.status, client.profile, client.auth_method) == ("active", "fapi2", "private_key_jwt")


def test_a_client_found_by_a_non_ascii_resource_is_still_checked(city: str) -> None:
    """Clients are found by their stored resources, JSON text where non-ASCII characters are escaped."""
    resource = "https://kas-daérah.example/"
    _add_client("kas-lama", "--resource", resource)
    cli("apps", "add", "--slug", "kas", "--opd", "bpkad", "--upstream", "http://127.0.0.1:9005", "--auth", "bearer",
        "--resource", resource)  # fmt: skip
    assert "kas-lama" in _refused("apps", "update", "kas", "--restricted")
    assert _apps(city)["kas"] == (None, False)
