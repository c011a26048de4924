"""`gerbang demo` as a newcomer runs it, signed into from a real browser."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from idp.dpop.client import load_or_create_key, make_client_assertion
from tests.support.browser import agree_to_app, chromium, screenshot
from tests.support.hub import free_port
from tests.support.localhost_names import app_url

pytestmark = pytest.mark.browser


def demo_ports() -> int:
    """A base port whose next four are free too: the demo serves the hub, its relying party and three apps."""
    for _ in range(100):
        base = free_port()
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + 5):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no five free ports in a row")


class DemoCity(NamedTuple):
    hub: str
    rp: str
    output: list[str]  # what `gerbang demo` printed so far (its banner), read as it runs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoCity]:
    tmp_path = tmp_path_factory.mktemp("demo")
    port = demo_ports()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    hub, rp = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    deadline = time.monotonic() + 90  # migrations, seeding and three password hashes on a busy machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{rp}/").status_code == 200 and httpx.get(f"{hub}/auth/jwks").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"demo did not start: {''.join(output)}")
    try:
        yield DemoCity(hub, rp, output)
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        assert "siti@warga.palembang.go.id" in "".join(output)


def test_the_banners_integration_commands_reach_e_budgeting(demo: DemoCity) -> None:
    """Bapenda's two printed commands, run as printed in a shell: a DPoP-bound client_credentials token for
    e-budgeting (which requires DPoP), then the API call with curl and a proof from ``gerbang dpop proof``, which
    the shipped policy set allows (the right client id, scope and path). A plain bearer token is refused there."""
    deadline = time.monotonic() + 10
    while not any("Press Ctrl+C" in line for line in demo.output) and time.monotonic() < deadline:
        time.sleep(0.1)
    get_token = next(line for line in demo.output if "TOKEN=$(gerbang dpop token" in line)
    call = next(line for line in demo.output if 'curl -H "Authorization: DPoP $TOKEN"' in line)
    shell = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    script = f"set -euo pipefail\n{get_token.strip()}\n{call.strip()} -sS --fail-with-body"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=shell, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["diminta_oleh"] == "bapenda-pajak"  # the app read the caller from the assertion
    words = shlex.split(get_token.strip().removeprefix("TOKEN=$(").removesuffix(")"))
    # e-budgeting is restricted: its client follows FAPI 2.0 (shipped rule fapi2-for-restricted-apps), so even its
    # own key gets no plain bearer token without a proof, and a plain bearer token is refused at the app.
    client_id = words[words.index("--client") + 1]
    client_key = load_or_create_key(Path(words[words.index("--client-key") + 1]))
    form = dict(word.split("=", 1) for flag, word in zip(words, words[1:], strict=False) if flag == "-d")
    assertion = make_client_assertion(client_key, client_id, words[-1])
    bearer = httpx.post(
        words[-1],
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            **form,
        },
    )
    assert bearer.status_code == 400 and bearer.json()["error"] == "invalid_dpop_proof", bearer.text
    api_url = shlex.split(call.strip())[-1]
    refused = httpx.get(api_url)  # no token: the challenge asks for DPoP
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("DPoP ")


def test_citizen_signs_in_to_the_demo_app_and_out_again(demo: DemoCity) -> None:
    hub, rp = demo.hub, demo.rp
    with chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(f"{rp}/")
        page.click("text=Masuk dengan Gerbang")
        page.wait_for_url(f"{hub}/auth/login*")
        assert page.locator("html").get_attribute("lang") == "id"
        screenshot(page, "idp-login")
        page.fill("#login", "1671015203950002")  # NIK works as the login name
        page.fill("#password", "warga-palembang-2026")
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub}/auth/consent*")
        screenshot(page, "idp-consent")
        page.click("button[value=allow]")
        page.wait_for_url(f"{rp}/")
        assert "Halo, Siti Aminah" in page.content()
        page.goto(f"{hub}/account")
        assert page.locator("#user-email").inner_text() == "siti@warga.palembang.go.id"
        page.goto(f"{rp}/logout")
        page.wait_for_url(f"{rp}/")
        assert "Masuk dengan Gerbang" in page.content()
        page.goto(f"{hub}/account")
        assert "/auth/login" in page.url


def test_one_sign_in_opens_both_dishub_apps_and_logout_ends_both(demo: DemoCity) -> None:
    hub = demo.hub
    parkir, cctv = app_url(hub, "parkir") + "/", app_url(hub, "cctv") + "/"
    assert any(parkir in line for line in demo.output)  # the banner names each app's own origin
    with chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(parkir)  # Chromium resolves *.localhost to loopback itself
        page.wait_for_url(f"{hub}/auth/login*")
        page.fill("#login", "budi@dishub.palembang.go.id")
        page.fill("#password", "asn-dishub-2026")
        page.click("button[type=submit]")
        agree_to_app(page)
        page.wait_for_url(parkir)
        assert page.locator("#who").inner_text() == "Budi Santoso"
        parkir_sub = page.locator("#sub").inner_text()
        screenshot(page, "gateway-parkir")
        page.click("text=CCTV Dishub")  # the second app: no second sign-in, but its own agreement
        agree_to_app(page)
        page.wait_for_url(cctv)
        assert page.locator("#who").inner_text() == "Budi Santoso"
        assert page.locator("#sub").inner_text() == parkir_sub
        page.wait_for_function("document.querySelector('img').naturalWidth > 0")  # the MJPEG stream plays
        screenshot(page, "gateway-cctv")
        page.goto(parkir)
        page.click("text=Keluar")
        page.click("button[type=submit]")  # the gateway asks before it signs anyone out
        page.wait_for_url(f"{hub}/auth/logout*")
        for app in (parkir, cctv):
            page.goto(app)
            assert "/auth/login" in page.url
