"""An independent, OpenID-Certified relying party in another language: npm ``openid-client`` (v6) against the provider.

The node script (tests/support/node/openid_client_rp.mjs) does discovery, code + PKCE S256 with state and nonce,
ID token validation (signature through jwks_uri, iss, aud, nonce, RFC 9207 ``iss`` in the response), UserInfo,
refresh, introspection and revocation with client_secret_basic. Python only plays the person at the login and
consent pages. openid-client is installed from npm into a temporary directory once per session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ci import skip_or_fail
from tests.support.flows import REDIRECT_URI, WARGA
from tests.support.hub import Browser, Hub, run_hub

SCRIPT = Path(__file__).parents[1] / "support" / "node" / "openid_client_rp.mjs"
OPENID_CLIENT = "openid-client@6"


def unavailable(reason: str) -> None:
    skip_or_fail(reason, "the openid-client conformance run is required")


@pytest.fixture(scope="session")
def openid_client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed to run openid-client")
    directory = tmp_path_factory.mktemp("openid-client")
    (directory / "package.json").write_text('{"private": true, "type": "module"}')
    try:
        done = subprocess.run(
            [str(npm), "install", "--no-audit", "--no-fund", "--silent", OPENID_CLIENT],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable("npm install openid-client timed out (is the npm registry reachable?)")
    if done.returncode != 0:
        unavailable(f"npm install openid-client failed: {done.stderr.strip()[-400:]}")
    shutil.copy(SCRIPT, directory / SCRIPT.name)
    return directory


@pytest.fixture(scope="module")
def hub(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with run_hub(module_database_url, tmp_path_factory.mktemp("hub")) as running:
        yield running


LOCALHOST_NAMES = Path(__file__).resolve().parents[1] / "support" / "node" / "localhost_names.cjs"


class NodeRelyingParty:
    """The node process, spoken to one JSON line at a time; killed if it hangs."""

    def __init__(self, directory: Path, script: str = SCRIPT.name) -> None:
        # *.localhost names the apps' own origins: node resolves them to loopback as browsers do.
        self.process = subprocess.Popen(
            ["node", "--require", str(LOCALHOST_NAMES), script],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.watchdog = threading.Timer(90, self.process.kill)
        self.watchdog.start()

    def send(self, value: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(value) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"openid-client said nothing: {self.stderr()}"
        return dict(json.loads(line))

    def stderr(self) -> str:
        self.process.kill()
        assert self.process.stderr is not None
        return self.process.stderr.read()[-2000:]

    def close(self) -> None:
        self.watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_openid_client_completes_discovery_code_pkce_refresh_userinfo_introspection_revocation(
    hub: Hub, openid_client_dir: Path
) -> None:
    client_id, secret = hub.client("Parkir Dishub")
    rp = NodeRelyingParty(openid_client_dir)
    try:
        rp.send(
            {
                "issuer": hub.url,
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid profile email",
            }
        )
        asked = rp.receive()
        assert "authorization_url" in asked, asked
        browser = Browser(hub)
        try:
            page = browser.go(asked["authorization_url"])
            assert page.status_code == 200, page.text
            done = browser.login(page, WARGA)
            if done.status_code == 200:
                done = browser.consent(done)
        finally:
            browser.close()
        assert done.status_code == 303, done.text
        rp.send({"callback_url": done.headers["location"]})
        result = rp.receive()
    finally:
        rp.close()

    assert result["ok"] is True, result
    claims = result["id_token_claims"]
    assert result["issuer"] == hub.url
    assert claims["iss"] == hub.url and claims["aud"] == client_id and claims["email"] == WARGA
    assert result["userinfo"]["sub"] == claims["sub"] and result["userinfo"]["email"] == WARGA
    assert result["refreshed_differs"] is True
    assert result["introspected"]["active"] is True and result["introspected"]["sub"] == claims["sub"]
    assert result["refresh_active_after_revocation"] is False
