"""The admin API's edits: PATCH/DELETE of apps, clients, OPD units, PATCH of users, client secret rotation —
Kominfo's (users: also an OPD admin's, inside their subtree), audited with a diff, seen by the gateway within
seconds, problems for bad input and conflicts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.support.admin import DISHUB_ADMIN, KOMINFO, UPT_ASN, AdminClient, admin_token, run_seed
from tests.support.cli_env import audit_entries
from tests.support.eventually import eventually
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, dict[str, str], str]]:
    with (
        run_server(Upstream("a")) as first,
        run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as running,
    ):
        people = run_seed(database_url, running.seeded.users)
        kominfo = AdminClient(running, admin_token(running, KOMINFO))
        submitted = kominfo.post(
            "/apps",
            {
                "slug": "parkir",
                "name": "Parkir",
                "opd": "dishub",
                "upstreams": [first],
                "auth_mode": "none",
                "contact": "tik@dishub.example.id",
            },
        )
        assert submitted.status_code == 201, submitted.text
        assert kominfo.post("/apps/parkir/approve").status_code == 200
        kominfo.close()
        yield running, people.users, first


def _patch(client: AdminClient, path: str, body: dict[str, object]) -> httpx.Response:
    return client.http.patch(path, json=body)


def test_patch_an_app_reaches_the_gateway_and_is_audited(
    hub: tuple[Hub, dict[str, str], str], database_url: str
) -> None:
    running, users, _ = hub
    kominfo = AdminClient(running, admin_token(running, KOMINFO))
    assert eventually(lambda: httpx.get(running.app_url("parkir") + "/echo").status_code == 200)
    replacement = Upstream("b")
    with run_server(replacement) as second:
        changed = _patch(kominfo, "/apps/parkir", {"upstreams": [second], "name": "Parkir Online"})
        assert changed.status_code == 200 and changed.json()["upstreams"] == [second]
        assert eventually(
            lambda: httpx.get(running.app_url("parkir") + "/echo").status_code == 200 and replacement.hits > 0
        )
    entry = audit_entries(database_url)[-1]
    assert entry.action == "app.update" and entry.actor == users[KOMINFO]
    assert set(entry.detail["diff"]) == {"upstreams", "name"}
    cleared = _patch(kominfo, "/apps/parkir", {"hosts": ["parkir.example.go.id"]})
    assert cleared.json()["hosts"][1:] == ["parkir.example.go.id"]
    assert _patch(kominfo, "/apps/parkir", {"hosts": None}).json()["hosts"][1:] == []
    bad = _patch(kominfo, "/apps/parkir", {"upstreams": []})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert _patch(kominfo, "/apps/nowhere", {"name": "x"}).status_code == 404
    removed = kominfo.http.delete("/apps/parkir")
    assert removed.status_code == 200 and removed.json() == {"removed": "parkir"}
    assert eventually(lambda: httpx.get(running.app_url("parkir") + "/echo").status_code == 404)
    kominfo.close()


def test_only_kominfo_changes_apps_clients_and_units(hub: tuple[Hub, dict[str, str], str]) -> None:
    running, _, _ = hub
    opd_admin = AdminClient(running, admin_token(running, DISHUB_ADMIN))
    client_id = running.client("Parkir Dishub")[0]
    for method, path, body in (
        ("PATCH", "/apps/parkir", {"name": "x"}),
        ("DELETE", "/apps/parkir", None),
        ("PATCH", f"/clients/{client_id}", {"name": "x"}),
        ("POST", f"/clients/{client_id}/secret/rotate", {}),
        ("PATCH", "/opd/dishub", {"name": "x"}),
        ("DELETE", "/opd/dishub", None),
    ):
        answer = opd_admin.http.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    opd_admin.close()


def test_clients_secrets_and_units(hub: tuple[Hub, dict[str, str], str], database_url: str) -> None:
    running, _, _ = hub
    kominfo = AdminClient(running, admin_token(running, KOMINFO))
    client_id, old_secret = running.client("Parkir Dishub")
    assert _patch(kominfo, f"/clients/{client_id}", {"scope": "openid email"}).json()["scope"] == "openid email"
    rotated = kominfo.post(f"/clients/{client_id}/secret/rotate", {"grace_seconds": 120}).json()
    assert rotated["client_id"] == client_id and rotated["client_secret"] != old_secret
    assert rotated["old_secret_valid_until"] == pytest.approx(time.time() + 120, abs=5)
    for secret in (old_secret, rotated["client_secret"]):  # both authenticate during the grace period
        answer = httpx.post(
            f"{running.url}/auth/introspect", data={"token": "nothing"}, auth=(client_id, str(secret)), timeout=10
        )
        assert answer.status_code == 200, answer.text
    wrong = httpx.post(
        f"{running.url}/auth/introspect", data={"token": "nothing"}, auth=(client_id, "salah"), timeout=10
    )
    assert wrong.status_code == 401
    busy = kominfo.http.delete("/opd/dishub")
    assert busy.status_code == 409 and "sub-units" in busy.json()["detail"]
    moved = _patch(kominfo, "/opd/upt-parkir", {"parent": "bpkad", "name": "UPT Perparkiran"})
    assert moved.status_code == 200 and moved.json()["path"].endswith("/bpkad/upt-parkir/")
    assert [e.action for e in audit_entries(database_url)][-2:] == ["opd.update", "opd.move"]
    kominfo.close()


def test_users_patch_within_the_admins_subtree(hub: tuple[Hub, dict[str, str], str]) -> None:
    running, users, _ = hub
    opd_admin = AdminClient(running, admin_token(running, DISHUB_ADMIN))
    renamed = _patch(opd_admin, f"/users/{users[UPT_ASN]}", {"name": "Andi Parkir"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Andi Parkir"
    assert _patch(opd_admin, f"/users/{users[KOMINFO]}", {"name": "x"}).status_code == 403
    kominfo = AdminClient(running, admin_token(running, KOMINFO))
    clash = _patch(kominfo, f"/users/{users[UPT_ASN]}", {"email": KOMINFO})
    assert clash.status_code == 409
    opd_admin.close()
    kominfo.close()
