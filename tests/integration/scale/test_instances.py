"""Two ``gerbang serve`` processes sharing one PostgreSQL: whatever one instance does, the other honours.

The issuer is instance A's address (as if A were the load balancer); B answers for the same issuer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.scale.conftest import Town, authorize, redeem, sign_in
from tests.support.eventually import eventually
from tests.support.hub import csrf_from, query_of
from tests.support.instances import Instance, running, start_instance
from tests.support.localhost_names import app_url

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(town: Town) -> Iterator[tuple[Instance, Instance]]:
    with running(town.city, [urlsplit(town.city.issuer).port, None]) as (a, b):
        yield a, b
    assert (a.process.returncode, b.process.returncode) == (0, 0), a.log()[-2000:] + b.log()[-2000:]


def gateway_status(base: str, token: str) -> int:
    return httpx.get(
        f"{app_url(base, 'parkir')}/echo", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_sign_on_at_one_instance_tokens_revocation_and_logout_hold_at_the_other(
    town: Town, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as at_a, httpx.Client(base_url=b.url, timeout=10) as at_b:
        params, verifier = sign_in(at_a, town)
        at_b.cookies = at_a.cookies  # the same browser, sent to the other instance by the load balancer
        tokens = redeem(b.url, town, params["code"], verifier)  # a code made on A is redeemed on B
        # Single sign-on: B knows the session A made (prompt=none gets a code, no login page).
        again, verifier_b = authorize(at_b, town, prompt="none")
        assert again.status_code in (302, 303), again.text[:300]
        silent = query_of(again.headers["location"])
        assert "code" in silent and "error" not in silent
        redeem(a.url, town, silent["code"], verifier_b)

        access = tokens["access_token"]
        assert gateway_status(a.url, access) == 200 and gateway_status(b.url, access) == 200

        # A refresh token revoked on A is dead on B.
        auth = (town.client_id, town.client_secret)
        refreshed = httpx.post(
            f"{b.url}/auth/token",
            auth=auth,
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
        refresh = refreshed.json()["refresh_token"]
        assert (
            httpx.post(
                f"{a.url}/auth/revoke", auth=auth, data={"token": refresh, "token_type_hint": "refresh_token"}
            ).status_code
            == 200
        )
        dead = httpx.post(
            f"{b.url}/auth/token", auth=auth, data={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"

        # An access token revoked on A: B's introspection says inactive at once, B's gateway refuses it
        # once its revocation list is polled (registry_refresh_seconds = 0.5 s here). A polls on its own
        # schedule too: it may see the revocation up to one interval after B does.
        assert httpx.post(f"{a.url}/auth/revoke", auth=auth, data={"token": access}).status_code == 200
        introspected = httpx.post(f"{b.url}/auth/introspect", auth=auth, data={"token": access})
        assert introspected.status_code == 200 and introspected.json() == {"active": False}
        eventually(lambda: gateway_status(b.url, access) == 401, timeout=5)
        eventually(lambda: gateway_status(a.url, access) == 401, timeout=5)

        # Logout on A ends the session everywhere: B asks for a login again.
        page = at_a.get("/auth/logout")
        assert at_a.post("/auth/logout", data={"csrf_token": csrf_from(page.text)}).status_code in (200, 303)
        after, _ = authorize(at_b, town, prompt="none")
        assert query_of(after.headers["location"])["error"] == "login_required"


def test_suspension_and_policy_change_reach_every_instance_within_seconds(
    town: Town, pair: tuple[Instance, Instance]
) -> None:
    token = town.service_token(pair[0].url)
    both = [instance.url for instance in pair]
    assert [gateway_status(url, token) for url in both] == [200, 200]

    town.city.cli("apps", "suspend", "--slug", "parkir")
    started = time.monotonic()
    eventually(lambda: [gateway_status(url, token) for url in both] == [503, 503], timeout=5)
    took = time.monotonic() - started
    town.city.cli("apps", "resume", "--slug", "parkir")
    eventually(lambda: [gateway_status(url, token) for url in both] == [200, 200], timeout=5)

    rule = town.city.policy_dir / "90-closed-for-maintenance.yaml"
    rule.write_text("rules:\n  - id: parkir-maintenance\n    effect: deny\n    match: {apps: [parkir]}\n")
    started = time.monotonic()
    eventually(lambda: [gateway_status(url, token) for url in both] == [403, 403], timeout=5)
    took = max(took, time.monotonic() - started)
    rule.unlink()
    eventually(lambda: [gateway_status(url, token) for url in both] == [200, 200], timeout=5)
    assert took < 5


def test_serve_with_two_workers_answers_from_both_and_stops_cleanly(town: Town) -> None:
    instance = start_instance(town.city, "--workers", "2")
    try:
        token = town.service_token(instance.url)
        with httpx.Client(timeout=10, headers={"Connection": "close"}) as http:
            statuses = [
                http.get(f"{instance.app_url('parkir')}/echo", headers={"Authorization": f"Bearer {token}"}).status_code
                for _ in range(20)
            ]
        assert statuses == [200] * 20
        eventually(lambda: instance.log().count("Application startup complete") == 2, timeout=20)
        assert "startup failed" not in instance.log()  # both workers provisioned the same database at once
        workers = _spawned_workers(instance.process.pid)
        assert len(workers) == 2
        for pid in workers:  # glibc reads the arena cap when each worker starts
            assert b"MALLOC_ARENA_MAX=2" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    finally:
        assert instance.terminate() == 0, instance.log()[-2000:]


def _spawned_workers(pid: int) -> list[int]:
    """uvicorn's worker processes: multiprocessing's spawned children of the supervisor."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
