"""The admin API on a real hub (both backends): the registration workflow, delegated administration down the
OPD tree, escalation attempts, and problem+json for bad input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from gateway.app import create_app
from idp.storage.db import build_engine
from tests.support.admin import (
    BPKAD_ADMIN,
    BPKAD_OPERATOR,
    DISHUB_ADMIN,
    DISHUB_OPERATOR,
    KOMINFO,
    UPT_ASN,
    AdminCity,
    AdminClient,
    admin_token,
    give_mfa,
    mfa_of,
    run_seed,
)
from tests.support.eventually import eventually
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream


@dataclass
class City:
    hub: Hub
    people: AdminCity
    upstream: str
    clients: dict[str, AdminClient]

    def as_(self, email: str) -> AdminClient:
        if email not in self.clients:
            self.clients[email] = AdminClient(self.hub, admin_token(self.hub, email))
        return self.clients[email]


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[City]:
    with run_server(Upstream("parkir")) as upstream:
        with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as hub:
            people = run_seed(database_url, hub.seeded.users)
            running = City(hub, people, upstream, {})
            yield running
            for client in running.clients.values():
                client.close()


def submission(upstream: str, slug: str = "parkir", opd: str = "dishub", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "slug": slug,
        "name": "Parkir Online",
        "description": "Retribusi parkir",
        "opd": opd,
        "upstreams": [upstream],
        "auth_mode": "bearer",
        "redirect_uris": [],
        "scopes": ["parkir:read"],
        "contact": "tik@dishub.example.id",
    }
    body.update(extra)
    return body


def is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"] == "application/problem+json"
        and response.json()["status"] == status
    )


def test_submit_approve_suspend_resume_through_the_gateway(city: City) -> None:
    operator, kominfo = city.as_(DISHUB_OPERATOR), city.as_(KOMINFO)
    submitted = operator.post("/apps", submission(city.upstream))
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["status"] == "pending" and submitted.json()["client_id"] is None
    assert httpx.get(f"{city.hub.app_url('parkir')}/echo").status_code == 404  # pending: not routed
    queue = kominfo.get("/apps", status="pending").json()
    assert [app["slug"] for app in queue["items"]] == ["parkir"]

    approved = kominfo.post("/apps/parkir/approve")
    assert approved.status_code == 200, approved.text
    client_id, secret = approved.json()["client_id"], approved.json()["client_secret"]
    assert secret and approved.json()["app"]["status"] == "active"
    assert "client_secret" not in kominfo.get("/apps/parkir").text  # shown once only
    resource = f"{city.hub.app_url('parkir')}/"
    token = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": resource},
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 200)

    assert kominfo.post("/apps/parkir/suspend", {"reason": "kebocoran data"}).status_code == 200
    assert eventually(lambda: is_problem(httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer), 503))
    refused = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": resource},
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    assert kominfo.post("/apps/parkir/resume").status_code == 200
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 200)
    actions = [entry["action"] for entry in kominfo.get("/audit", target="app:parkir").json()["items"]]
    assert actions == ["app.resume", "app.suspend", "app.approve", "app.submit"]
    entries = kominfo.get("/audit", target="app:parkir").json()["items"]
    assert {entry["actor"] for entry in entries[:3]} == {city.people.users[KOMINFO]}
    assert kominfo.get("/audit/verify").json()["intact"] is True


def test_suspended_clients_live_tokens_are_refused_by_the_gateway(city: City) -> None:
    """The kill switch covers tokens issued before it was pulled, on another app too."""
    kominfo = city.as_(KOMINFO)
    city.as_(DISHUB_OPERATOR).post("/apps", submission(city.upstream))
    approved = kominfo.post("/apps/parkir/approve").json()
    kominfo_admin_path = submission(city.upstream, slug="kas", opd="bpkad")
    assert city.as_(BPKAD_OPERATOR).post("/apps", kominfo_admin_path).status_code == 201
    assert kominfo.post("/apps/kas/approve").status_code == 200
    token = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(approved["client_id"], approved["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": f"{city.hub.app_url('parkir')}/"},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 200)
    kominfo.post("/apps/parkir/suspend", {"reason": "uji"})
    # The app is 503 anyway; the client's status reaches the bearer step on the same refresh.
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 503)


async def fail_audit_of(database_url: str, action: str) -> None:
    """Fault injection in the database itself: writing the audit entry for ``action`` fails."""
    engine = build_engine(database_url)
    async with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            await connection.execute(
                text(
                    f"CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log WHEN NEW.action = '{action}' "
                    "BEGIN SELECT RAISE(ABORT, 'audit storage failed'); END"
                )
            )
        else:
            await connection.execute(
                text(
                    "CREATE FUNCTION fail_audit() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.action = '{action}' THEN RAISE EXCEPTION 'audit storage failed'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                text("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit()")
            )
    await engine.dispose()


def test_approval_is_one_transaction_a_failure_leaves_no_client_and_no_route(city: City) -> None:
    """The audit write is the last step of an approval: when it fails, the client and the route go too."""
    kominfo = city.as_(KOMINFO)
    assert city.as_(DISHUB_OPERATOR).post("/apps", submission(city.upstream)).status_code == 201
    before = {c["client_id"] for c in kominfo.get("/clients", limit=200).json()["items"]}
    asyncio.run(fail_audit_of(city.hub.settings.database_url, "app.approve"))
    failed = kominfo.post("/apps/parkir/approve")
    assert failed.status_code in (409, 503) and failed.headers["content-type"] == "application/problem+json"
    assert "audit storage" not in failed.text  # internals stay in the log
    app = kominfo.get("/apps/parkir").json()
    assert app["status"] == "pending" and app["client_id"] is None
    assert {c["client_id"] for c in kominfo.get("/clients", limit=200).json()["items"]} == before
    time.sleep(0.5)  # two registry refreshes: a half-approved app would be routed by now
    assert httpx.get(f"{city.hub.app_url('parkir')}/echo").status_code == 404


def test_reject_needs_a_reason_and_records_it(city: City) -> None:
    kominfo = city.as_(KOMINFO)
    city.as_(DISHUB_OPERATOR).post("/apps", submission(city.upstream))
    assert is_problem(kominfo.post("/apps/parkir/reject", {}), 400)
    rejected = kominfo.post("/apps/parkir/reject", {"reason": "upstream belum memakai TLS"})
    assert rejected.status_code == 200 and rejected.json()["reason"] == "upstream belum memakai TLS"
    assert is_problem(kominfo.post("/apps/parkir/approve"), 409)  # a rejected app is not approved later


def test_escalation_attempts_are_refused(city: City) -> None:
    dishub_admin, bpkad_admin = city.as_(DISHUB_ADMIN), city.as_(BPKAD_ADMIN)
    operator = city.as_(DISHUB_OPERATOR)
    assert operator.post("/apps", submission(city.upstream)).status_code == 201
    # An OPD admin cannot see or touch another OPD's app.
    assert is_problem(bpkad_admin.get("/apps/parkir"), 403)
    assert bpkad_admin.get("/apps").json()["items"] == []
    assert dishub_admin.get("/apps").json()["items"][0]["slug"] == "parkir"
    # Operators and OPD admins cannot approve, suspend or reject.
    for who in (operator, dishub_admin):
        for action in ("approve", "suspend", "resume"):
            assert is_problem(who.post(f"/apps/parkir/{action}"), 403)
        assert is_problem(who.post("/apps/parkir/reject", {"reason": "saya sendiri"}), 403)
    # An operator submits only for their own unit (not the parent, not a sibling, not a child).
    for opd in ("bpkad", "kota-palembang", "upt-parkir"):
        assert is_problem(operator.post("/apps", submission(city.upstream, slug=f"x-{opd}", opd=opd)), 403)
    # An OPD admin submits inside the subtree only.
    assert dishub_admin.post("/apps", submission(city.upstream, slug="upt", opd="upt-parkir")).status_code == 201
    assert is_problem(dishub_admin.post("/apps", submission(city.upstream, slug="kas", opd="bpkad")), 403)
    # Users: another OPD's people are out of reach; so are Kominfo's and citizens.
    for email in (BPKAD_OPERATOR, KOMINFO, "warga@example.id"):
        target = city.people.users[email]
        assert is_problem(dishub_admin.post(f"/users/{target}/disable"), 403)
        assert is_problem(dishub_admin.post(f"/users/{target}/end-sessions"), 403)
    assert dishub_admin.post(f"/users/{city.people.users[UPT_ASN]}/disable").status_code == 200
    # Role self-grant and grants outside the subtree.
    me = city.people.users[DISHUB_ADMIN]
    for grant in (
        {"opd": "diskominfo", "role": "kominfo-admin"},
        {"opd": "dishub", "role": "opd-admin"},
        {"opd": "kota-palembang", "role": "opd-admin"},
    ):
        assert is_problem(dishub_admin.post(f"/users/{me}/roles", grant), 403)
    op_id = city.people.users[DISHUB_OPERATOR]
    assert is_problem(operator.post(f"/users/{op_id}/roles", {"opd": "dishub", "role": "opd-admin"}), 403)
    assert is_problem(dishub_admin.post(f"/users/{op_id}/roles", {"opd": "bpkad", "role": "operator"}), 403)
    assert is_problem(dishub_admin.post(f"/users/{op_id}/roles", {"opd": "diskominfo", "role": "kominfo-admin"}), 403)
    granted = dishub_admin.post(f"/users/{op_id}/roles", {"opd": "upt-parkir", "role": "operator"})
    assert granted.status_code == 200 and {"opd": "upt-parkir", "role": "operator"} in granted.json()["roles"]
    # Operators manage nobody and see no clients or users; only Kominfo reads keys and the audit log.
    assert operator.get("/users").json()["items"] == [] and operator.get("/clients").json()["items"] == []
    for who in (operator, dishub_admin):
        assert is_problem(who.get("/keys"), 403) and is_problem(who.get("/audit"), 403)
        assert is_problem(who.post("/keys/rotate"), 403) and is_problem(who.get("/audit/verify"), 403)
        assert is_problem(who.post("/keys/some-kid/revoke"), 403)


def test_a_citizen_and_foreign_tokens_get_no_admin_api(city: City) -> None:
    citizen = city.as_("warga@example.id")
    assert is_problem(citizen.get("/me"), 403)
    anonymous = httpx.get(f"{city.hub.url}/admin/api/apps")
    assert is_problem(anonymous, 401) and anonymous.headers["www-authenticate"].startswith("Bearer")
    forged = httpx.get(f"{city.hub.url}/admin/api/apps", headers={"Authorization": "Bearer a.b.c"})
    assert is_problem(forged, 401)
    # A client_credentials token of an OPD client (no person behind it, another audience) is refused.
    client_id, secret = city.hub.client("Bapenda Integrasi")
    machine = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "anggaran:read"},
    ).json()["access_token"]
    assert is_problem(httpx.get(f"{city.hub.url}/admin/api/me", headers={"Authorization": f"Bearer {machine}"}), 401)


def test_lists_paginate_and_filter(city: City) -> None:
    kominfo = city.as_(KOMINFO)
    operator = city.as_(DISHUB_OPERATOR)
    for n in range(5):
        assert operator.post("/apps", submission(city.upstream, slug=f"app-{n}")).status_code == 201
    first = kominfo.get("/apps", limit=2).json()
    second = kominfo.get("/apps", limit=2, offset=first["next_offset"]).json()
    last = kominfo.get("/apps", limit=2, offset=4).json()
    assert [a["slug"] for a in first["items"] + second["items"] + last["items"]] == [f"app-{n}" for n in range(5)]
    assert last["next_offset"] is None
    assert [a["slug"] for a in kominfo.get("/apps", q="app-3").json()["items"]] == ["app-3"]
    assert kominfo.get("/apps", status="active").json()["items"] == []
    assert [u["slug"] for u in city.as_(DISHUB_ADMIN).get("/opd").json()["items"]] == ["dishub", "upt-parkir"]
    assert [u["slug"] for u in operator.get("/opd").json()["items"]] == ["dishub"]
    users = city.as_(DISHUB_ADMIN).get("/users").json()["items"]
    assert {u["email"] for u in users} == {DISHUB_ADMIN, DISHUB_OPERATOR, UPT_ASN}
    assert [u["email"] for u in kominfo.get("/users", q="bpkad").json()["items"]] == [BPKAD_ADMIN, BPKAD_OPERATOR]
    assert kominfo.get("/keys").json()["items"][0]["state"] == "active"
    assert kominfo.get("/policies").status_code == 200


@pytest.mark.parametrize(
    "path,params",
    [
        ("/apps", {"limit": "0"}),
        ("/apps", {"limit": "abc"}),
        ("/apps", {"offset": "-1"}),
        ("/apps", {"status": "nope"}),
        ("/users", {"disabled": "maybe"}),
        ("/audit", {"before": "x"}),
        ("/apps", {"opd": "no-such-unit"}),
        ("/apps/no-such-app", {}),
        ("/apps", {"q": "a\x00b"}),
        ("/users", {"q": "\x00"}),
        ("/apps/a%00b", {}),
    ],
)
def test_bad_query_input_is_a_problem_never_a_5xx(city: City, path: str, params: dict[str, str]) -> None:
    response = city.as_(KOMINFO).get(path, **params)
    assert response.status_code in (400, 404) and response.headers["content-type"] == "application/problem+json"


def test_bad_bodies_are_problems(city: City) -> None:
    operator = city.as_(DISHUB_OPERATOR)
    bad = [
        submission(city.upstream, slug="Bad Slug"),
        submission(city.upstream, upstreams=[]),
        submission(city.upstream, upstreams=["ftp://x"]),
        submission(city.upstream, auth_mode="magic"),
        submission(city.upstream, scopes=['a"b']),
        submission(city.upstream, extra="field"),
        submission(city.upstream, redirect_uris=["not a uri"]),
        {"slug": 1},
        submission(city.upstream, opd="nope"),
    ]
    for body in bad:
        response = operator.post("/apps", body)
        assert response.status_code in (400, 404), (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    raw = operator.http.post("/apps", content=b"{not json", headers={"content-type": "application/json"})
    assert is_problem(raw, 400)
    assert is_problem(operator.http.post("/apps", content=b"x", headers={"content-type": "text/plain"}), 415)
    assert operator.post("/apps", submission(city.upstream)).status_code == 201
    assert is_problem(operator.post("/apps", submission(city.upstream)), 409)  # the slug is taken
    assert is_problem(operator.http.put("/apps"), 405)
    assert is_problem(operator.get("/nowhere"), 404)


def test_end_sessions_revokes_the_users_tokens(city: City) -> None:
    kominfo = city.as_(KOMINFO)
    victim = city.as_(DISHUB_ADMIN)
    assert victim.get("/me").status_code == 200
    ended = kominfo.post(f"/users/{city.people.users[DISHUB_ADMIN]}/end-sessions")
    assert ended.status_code == 200 and ended.json()["access_tokens"] >= 1
    # The revocation list reaches the verifier within its refresh period.
    assert eventually(lambda: victim.get("/me").status_code == 401)


def test_reset_mfa_removes_every_factor_ends_sessions_and_is_audited(city: City) -> None:
    kominfo, bpkad_admin = city.as_(KOMINFO), city.as_(BPKAD_ADMIN)
    victim = city.as_(DISHUB_ADMIN)
    target = city.people.users[DISHUB_ADMIN]
    give_mfa(city.hub.settings.database_url, target)
    assert is_problem(bpkad_admin.post(f"/users/{target}/reset-mfa"), 403)  # another OPD's admin
    assert is_problem(victim.post(f"/users/{target}/reset-mfa"), 403)  # nobody resets their own account here
    assert mfa_of(city.hub.settings.database_url, target) == (True, 1, 3)
    assert is_problem(kominfo.post("/users/no-such-user/reset-mfa"), 404)
    assert is_problem(kominfo.post("/users/a%00b/reset-mfa"), 400)  # PostgreSQL refuses NUL: bad input, not 503
    reset = kominfo.post(f"/users/{target}/reset-mfa")
    assert reset.status_code == 200, reset.text
    assert reset.json()["removed"] == {"totp": True, "passkeys": 1, "recovery_codes": 3}
    assert reset.json()["mfa"] is False and reset.json()["ended"]["access_tokens"] >= 1
    assert mfa_of(city.hub.settings.database_url, target) == (False, 0, 0)
    entry = kominfo.get("/audit", action="user.reset_mfa").json()["items"][0]
    assert entry["target"] == f"user:{target}" and entry["actor"] == city.people.users[KOMINFO]
    assert entry["detail"]["passkeys"] == 1
    assert eventually(lambda: victim.get("/me").status_code == 401)  # the user's tokens stop working


def test_kominfo_revokes_a_leaked_signing_key_and_a_new_one_signs(city: City) -> None:
    kominfo = city.as_(KOMINFO)
    (leaked,) = [key["kid"] for key in kominfo.get("/keys").json()["items"] if key["state"] == "active"]
    revoked = kominfo.post(f"/keys/{leaked}/revoke")
    assert revoked.status_code == 200, revoked.text
    new_kid = revoked.json()["new_kid"]
    assert revoked.json()["revoked"] == leaked and new_kid not in (None, leaked)
    assert is_problem(kominfo.get("/keys"), 401)  # the admin's own token was signed by the leaked key too
    kominfo = AdminClient(city.hub, admin_token(city.hub, KOMINFO))  # signs in again: a token of the new key
    states = {key["kid"]: key["state"] for key in kominfo.get("/keys").json()["items"]}
    assert states == {leaked: "expired", new_kid: "active"}
    published = {key["kid"] for key in httpx.get(f"{city.hub.url}/auth/jwks").json()["keys"]}
    assert leaked not in published and new_kid in published
    assert is_problem(kominfo.post(f"/keys/{leaked}/revoke"), 409)  # it verifies nothing already
    assert is_problem(kominfo.post("/keys/no-such-kid/revoke"), 404)
    entries = kominfo.get("/audit", action="keys.revoke").json()["items"]
    assert [entry["target"] for entry in entries] == [f"key:{leaked}"]


def test_openapi_document_describes_every_endpoint(city: City) -> None:
    document = httpx.get(f"{city.hub.url}/admin/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    for expected in [
        ("GET", "/apps"),
        ("POST", "/apps"),
        ("POST", "/apps/{slug}/approve"),
        ("POST", "/apps/{slug}/reject"),
        ("POST", "/apps/{slug}/suspend"),
        ("POST", "/apps/{slug}/resume"),
        ("GET", "/clients"),
        ("GET", "/users"),
        ("POST", "/users/{id}/disable"),
        ("POST", "/users/{id}/end-sessions"),
        ("GET", "/keys"),
        ("POST", "/keys/rotate"),
        ("GET", "/audit"),
        ("GET", "/audit/verify"),
        ("GET", "/policies"),
        ("GET", "/opd"),
        ("POST", "/users/{id}/reset-mfa"),
        ("POST", "/keys/{kid}/revoke"),
    ]:
        assert expected in operations
    assert "AppSubmission" in document["components"]["schemas"]


def test_suspending_only_the_client_stops_its_live_tokens_while_the_app_stays_up(city: City) -> None:
    kominfo = city.as_(KOMINFO)
    city.as_(DISHUB_OPERATOR).post("/apps", submission(city.upstream))
    approved = kominfo.post("/apps/parkir/approve").json()
    token = httpx.post(
        f"{city.hub.url}/auth/token",
        auth=(approved["client_id"], approved["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "parkir:read", "resource": f"{city.hub.app_url('parkir')}/"},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 200)
    assert kominfo.post(f"/clients/{approved['client_id']}/suspend").status_code == 200
    assert eventually(lambda: is_problem(httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer), 401))
    assert kominfo.get("/apps/parkir").json()["status"] == "active"
    assert kominfo.post(f"/clients/{approved['client_id']}/resume").status_code == 200
    assert eventually(lambda: httpx.get(f"{city.hub.app_url('parkir')}/echo", headers=bearer).status_code == 200)


@pytest.mark.parametrize(
    "metadata_upstream",
    [
        "http://169.254.169.254/latest",
        "http://[fe80::a9fe:a9fe]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/",
    ],
)
def test_an_app_submitted_with_a_metadata_upstream_is_refused(city: City, metadata_upstream: str) -> None:
    response = city.as_(DISHUB_OPERATOR).post("/apps", submission(metadata_upstream))
    assert is_problem(response, 400)
    assert "GERBANG_UPSTREAM_ALLOW" in response.json()["detail"]
    assert city.as_(KOMINFO).get("/apps").json()["items"] == []


def test_path_and_websocket_settings_are_submitted_and_shown(city: City) -> None:
    body = submission(city.upstream, case_insensitive_paths=True, websocket_origins=["https://peta.example.id"])
    created = city.as_(DISHUB_OPERATOR).post("/apps", body)
    assert created.status_code == 201, created.text
    app = created.json()
    assert (app["case_insensitive_paths"], app["allow_ambiguous_paths"], app["websocket_origins"]) == (
        True,
        False,
        ["https://peta.example.id"],
    )
