"""`gerbang demo` as a newcomer runs it, signed into from a real browser."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium, screenshot
from tests.support.hub import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    while True:
        rp_port = port + 1
        try:
            import socket

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", rp_port))
            break
        except OSError:
            port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--port", str(port), "--data-dir",
                                str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hub, rp = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{rp}/").status_code == 200 and httpx.get(f"{hub}/auth/jwks").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"demo did not start: {process.stdout.read() if process.stdout else ''}")
    try:
        yield hub, rp
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        assert "siti@warga.palembang.go.id" in output


def test_citizen_signs_in_to_the_demo_app_and_out_again(demo: tuple[str, str]) -> None:
    hub, rp = demo
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
