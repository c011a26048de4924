"""Kominfo's policies at the gateway and the provider, with hot reload, on a real hub."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.apps import add_app
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.eventually import eventually
from tests.support.hub import TEST_UPSTREAM_ADDRESSES, Browser, Hub, authorize_url, pkce_pair, query_of, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"
RESTRICTED = """
apps:
  - slug: e-budgeting
    restricted: true
"""


async def register_api(database_url: str, issuer: str, upstream: str) -> None:
    engine = build_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        await add_app(
            session,
            addresses=TEST_UPSTREAM_ADDRESSES,
            slug="e-budgeting",
            opd_slug="bpkad",
            upstreams=(upstream,),
            auth_mode="bearer",
            issuer=issuer,
            resource=RESOURCE,
            now=int(time.time()),
        )
    await engine.dispose()


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, Path]]:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "apps.yaml").write_text(RESTRICTED)
    with run_server(Upstream("e-budgeting")) as upstream:
        with run_hub(
            database_url, tmp_path, app_factory=create_app, policy_dir=policy_dir, policy_reload_seconds=0.2
        ) as running:
            asyncio.run(register_api(database_url, running.url, upstream))
            assert eventually(lambda: httpx.get(f"{running.app_url('e-budgeting')}/echo").status_code != 404)
            yield running, policy_dir


def token(hub: Hub) -> str:
    client_id, secret = hub.client("Bapenda Integrasi")
    response = httpx.post(
        f"{hub.url}/auth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "anggaran:read", "resource": RESOURCE},
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_restricted_app_is_default_deny_until_a_rule_allows_and_bad_changes_are_kept_out(hub: tuple[Hub, Path]) -> None:
    running, policy_dir = hub
    headers = {"Authorization": f"Bearer {token(running)}"}
    denied = httpx.get(f"{running.app_url('e-budgeting')}/echo", headers=headers)
    assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    client_id, _ = running.client("Bapenda Integrasi")
    (policy_dir / "rules.yaml").write_text(f"""
rules:
  - id: bapenda-reads-budget
    effect: allow
    match: {{apps: [e-budgeting], methods: [GET], clients: ["{client_id}"]}}
  - id: trial-no-exports
    effect: report-only
    would: deny
    match: {{apps: [e-budgeting], paths: ["/echo"]}}
""")
    assert eventually(lambda: httpx.get(f"{running.app_url('e-budgeting')}/echo", headers=headers).status_code == 200)
    assert httpx.post(f"{running.app_url('e-budgeting')}/echo", headers=headers).status_code == 403
    (policy_dir / "rules.yaml").write_text("rules:\n  - id: broken\n    effect: maybe\n")
    assert eventually(lambda: httpx.get(f"{running.url}/readyz").json()["checks"].get("policies", "ok") != "ok")
    ready = httpx.get(f"{running.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert httpx.get(f"{running.app_url('e-budgeting')}/echo", headers=headers).status_code == 200  # last good set


def test_provider_refuses_sign_in_to_a_restricted_client_and_guards_scopes(hub: tuple[Hub, Path]) -> None:
    running, policy_dir = hub
    client_id, _ = running.client("Portal Kominfo")
    (policy_dir / "provider.yaml").write_text(f"""
provider:
  clients:
    - client_id: "{client_id}"
      restricted: true
  login:
    - id: only-dishub-staff
      effect: allow
      clients: ["{client_id}"]
      subject: {{opds: [dishub]}}
""")
    time.sleep(2)  # two polls read the change, with room for a busy machine
    citizen = Browser(running)
    page = citizen.go(authorize_url(client_id, pkce_pair()[1]))
    refused = citizen.login(page, "warga@example.id")
    assert query_of(refused.headers["location"])["error"] == "access_denied"
    staff = Browser(running)
    page = staff.go(authorize_url(client_id, pkce_pair()[1]))
    allowed = staff.login(page, "asn@dishub.example.id")
    assert "code" in query_of(allowed.headers["location"])


def test_reloads_under_traffic_fail_no_request(hub: tuple[Hub, Path]) -> None:
    running, policy_dir = hub
    client_id, _ = running.client("Bapenda Integrasi")
    allow = """
rules:
  - id: bapenda-reads-budget-{n}
    effect: allow
    match: {{apps: [e-budgeting], methods: [GET], clients: ["{client_id}"]}}
"""
    (policy_dir / "rules.yaml").write_text(allow.format(n=0, client_id=client_id))
    headers = {"Authorization": f"Bearer {token(running)}"}
    url = f"{running.app_url('e-budgeting')}/echo"
    assert eventually(lambda: httpx.get(url, headers=headers).status_code == 200)
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set() and len(statuses) < 5000:
                statuses.append(http.get(url, headers=headers).status_code)

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for worker in workers:
        worker.start()
    for n in range(1, 6):  # five swaps of the set in force, each a different valid directory content
        (policy_dir / "rules.yaml").write_text(allow.format(n=n, client_id=client_id))
        time.sleep(0.6)
    stop.set()
    for worker in workers:
        worker.join()
    assert len(statuses) > 50 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    reloaded = httpx.get(f"{running.url}/metrics").text
    assert 'gerbang_policy_reloads_total{result="reloaded"}' in reloaded
