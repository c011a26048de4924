"""Signing key rotation by the real CLI while the provider runs: zero failed verifications.

``gerbang keys rotate`` runs in another process, as an operator would run it; the provider must pick the new key
up by itself (periodic refresh, or at once when a token names a key it has not loaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from idp.app import create_app
from idp.settings import Settings
from tests.support.eventually import eventually
from tests.support.flows import introspect, issue_tokens, refresh, token_request, userinfo
from tests.support.hub import Hub, run_hub
from tests.support.server import run_server

RESOURCE = "http://127.0.0.1:9/apps/e-budgeting/"


ACTIVATION_DELAY = 10  # seconds a rotated-in key is published before it signs (production: ≥ the JWKS max-age;
# here long enough that a starved CI machine still checks "published, not yet signing" inside the window)


def gerbang(hub: Hub, tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GERBANG_")}
    env.update(
        GERBANG_DATABASE_URL=hub.settings.effective_database_url,
        GERBANG_SECRET_KEY=hub.settings.secret_key,
        GERBANG_DATA_DIR=str(tmp_path),
        GERBANG_ISSUER=hub.url,
        GERBANG_KEY_ACTIVATION_DELAY=str(ACTIVATION_DELAY),
    )
    script = Path(sys.executable).parent / "gerbang"
    entry = [str(script)] if script.exists() else [sys.executable, "-c", "from gateway.cli import main; main()"]
    command = [*entry, *args, "--json"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def published_kids(hub: Hub) -> list[str]:
    """The primary (ES256) keys; the per-algorithm ID token keys rotate beside them."""
    return [
        key["kid"]
        for key in httpx.get(f"{hub.url}/auth/jwks", timeout=10).json()["keys"]
        if key["alg"] == "ES256" and "gerbang_use" not in key
    ]  # not the message-signing key


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


class Verifier(threading.Thread):
    """Keeps verifying one token at UserInfo and introspection, counting every answer."""

    def __init__(self, hub: Hub, token: str) -> None:
        super().__init__(daemon=True)
        self.hub, self.token = hub, token
        self.stop = threading.Event()
        self.passed = 0
        self.failed: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                info = userinfo(self.hub, self.token)
                active = introspect(self.hub, self.token).get("active")
            except (AssertionError, httpx.HTTPError) as exc:  # counted, never lost with the thread
                self.failed.append(repr(exc))
                continue
            if info.status_code == 200 and active is True:
                self.passed += 1
            else:
                self.failed.append(f"userinfo {info.status_code}, active {active}")


@pytest.fixture
def fast_refresh_hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    def app_factory(settings: Settings) -> object:
        return create_app(settings.model_copy(update={"key_refresh_seconds": 0.3}))

    with run_hub(database_url, tmp_path, app_factory=app_factory) as running:
        yield running


@pytest.fixture
def slow_refresh_hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    # No periodic refresh within the test: only the unknown-kid reload can pick the new key up.
    def app_factory(settings: Settings) -> object:
        return create_app(settings.model_copy(update={"key_refresh_seconds": 3600.0}))

    with run_hub(database_url, tmp_path, app_factory=app_factory) as running:
        yield running


def test_rotation_by_cli_keeps_old_tokens_verifying(fast_refresh_hub: Hub, tmp_path: Path) -> None:
    hub = fast_refresh_hub
    client_id, secret = hub.client("Parkir Dishub")
    before = issue_tokens(hub, "Parkir Dishub")
    old_kid = kid_of(before["access_token"])
    assert published_kids(hub) == [old_kid] and kid_of(before["id_token"]) == old_kid

    verifier = Verifier(hub, before["access_token"])
    verifier.start()
    try:
        new_kid = gerbang(hub, tmp_path, "keys", "rotate")["kid"]
        assert new_kid != old_kid
        eventually(lambda: new_kid in published_kids(hub))
        # Published before it signs: a relying party caching the JWKS now knows the kid it will meet.
        assert kid_of(issue_tokens(hub, "Parkir Dishub")["id_token"]) == old_kid
        eventually(
            lambda: kid_of(issue_tokens(hub, "Parkir Dishub")["id_token"]) == new_kid, timeout=ACTIVATION_DELAY + 20
        )
        time.sleep(0.5)  # keep verifying across the switch to the new signing key
    finally:
        verifier.stop.set()
        verifier.join(timeout=10)
    assert verifier.failed == [] and verifier.passed > 0

    assert published_kids(hub) == [new_kid, old_kid]  # newest first, the retired key still published
    after = refresh(hub, client_id, secret, before["refresh_token"])
    assert after.status_code == 200, after.text
    assert kid_of(after.json()["access_token"]) == new_kid
    assert kid_of(issue_tokens(hub, "Parkir Dishub")["id_token"]) == new_kid

    # A relying party holding the JWKS verifies both generations of ID tokens.
    jwks = jwt.PyJWKClient(f"{hub.url}/auth/jwks")
    for id_token in (before["id_token"], issue_tokens(hub, "Parkir Dishub")["id_token"]):
        key = jwks.get_signing_key_from_jwt(id_token).key
        assert jwt.decode(id_token, key, algorithms=["ES256"], audience=client_id, issuer=hub.url)["sub"]
    states = {
        key["kid"]: key["state"] for key in gerbang(hub, tmp_path, "keys", "list")["keys"] if key["alg"] == "ES256"
    }
    assert states == {old_kid: "retired (still verifies)", new_kid: "active"}


def test_token_signed_by_another_instance_after_rotation_verifies(slow_refresh_hub: Hub, tmp_path: Path) -> None:
    # Another instance started after the new key's activation signs with it at once; this one, between two
    # periodic refreshes (here: none since before the rotation), must verify those tokens without waiting.
    hub = slow_refresh_hub
    client_id, secret = hub.client("Parkir Dishub")
    before = issue_tokens(hub, "Parkir Dishub")
    old_kid = kid_of(before["access_token"])
    new_kid = gerbang(hub, tmp_path, "keys", "rotate")["kid"]
    assert published_kids(hub) == [old_kid]
    time.sleep(ACTIVATION_DELAY + 0.6)  # the new key's activation (this instance has not reloaded since)

    with run_server(create_app(hub.settings)) as other_url:
        other = Hub(other_url, hub.settings, hub.seeded)
        rotated = refresh(other, client_id, secret, before["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        user_token = rotated.json()["access_token"]
        bapenda_id, bapenda_secret = hub.client("Bapenda Integrasi")
        assert bapenda_secret is not None
        service = token_request(
            other, {"grant_type": "client_credentials", "resource": RESOURCE}, auth=(bapenda_id, bapenda_secret)
        )
        assert service.status_code == 200
    assert kid_of(user_token) == new_kid == kid_of(service.json()["access_token"])

    assert userinfo(hub, user_token).status_code == 200
    assert introspect(hub, service.json()["access_token"], "Bapenda Integrasi")["active"] is True
    assert published_kids(hub) == [new_kid, old_kid]
    assert userinfo(hub, before["access_token"]).status_code == 200
