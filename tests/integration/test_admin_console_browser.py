"""The registration workflow in a real browser (Debian chromium): an OPD operator submits an app in the console,
a Kominfo admin approves it and it is reachable through the gateway, suspending makes it unreachable, and an
admin of another OPD never sees it. Screenshots of the console pages are saved as test artifacts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from tests.support.admin import BPKAD_ADMIN, DISHUB_OPERATOR, KOMINFO, run_seed
from tests.support.browser import chromium, screenshot
from tests.support.hub import PASSWORD, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, str]]:
    with run_server(Upstream("parkir")) as upstream:
        with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as hub:
            run_seed(database_url, hub.seeded.users)
            yield hub, upstream


def sign_in(browser: Any, hub: Hub, email: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{hub.url}/admin/")
    page.fill("#login", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/admin/antrean")
    return page


def eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_submit_approve_reach_suspend_in_the_console(city: tuple[Hub, str]) -> None:
    hub, upstream = city
    with chromium() as browser:
        operator = sign_in(browser, hub, DISHUB_OPERATOR)
        operator.goto(f"{hub.url}/admin/ajukan")
        operator.fill("input[name=slug]", "parkir")
        operator.fill("input[name=name]", "Parkir Online")
        operator.fill("textarea[name=description]", "Pembayaran retribusi parkir")
        operator.fill("textarea[name=upstreams]", upstream)
        operator.select_option("select[name=auth_mode]", "session")
        operator.fill("input[name=contact]", "tik@dishub.example.id")
        screenshot(operator, "console-submit")
        operator.click("#submit-app button[type=submit]")
        assert "menunggu persetujuan" in operator.content()

        kominfo = sign_in(browser, hub, KOMINFO)
        assert kominfo.locator('tr[data-slug="parkir"]').count() == 1
        screenshot(kominfo, "console-approval-queue")
        kominfo.click('tr[data-slug="parkir"] >> text=Setujui')
        assert kominfo.locator("#client-secret").inner_text()
        screenshot(kominfo, "console-approved")

        def reachable() -> bool:
            response = kominfo.goto(f"{hub.url}/apps/parkir/echo")
            return response is not None and response.status == 200 and '"method"' in kominfo.content()
        assert eventually(reachable)  # the gateway signs the admin in from their provider session

        kominfo.goto(f"{hub.url}/admin/aplikasi?status=active")
        screenshot(kominfo, "console-apps")
        kominfo.fill('tr[data-slug="parkir"] input[name=reason]', "uji tombol darurat")
        kominfo.click('tr[data-slug="parkir"] >> text=Hentikan sementara')

        def unavailable() -> bool:
            response = kominfo.goto(f"{hub.url}/apps/parkir/echo")
            return response is not None and response.status == 503
        assert eventually(unavailable)

        bpkad = sign_in(browser, hub, BPKAD_ADMIN)
        bpkad.goto(f"{hub.url}/admin/aplikasi")
        assert bpkad.locator('tr[data-slug="parkir"]').count() == 0
        screenshot(bpkad, "console-other-opd")
        kominfo.goto(f"{hub.url}/admin/pengguna?q=dishub")
        screenshot(kominfo, "console-users")
        kominfo.goto(f"{hub.url}/admin/audit")
        assert "app.suspend" in kominfo.content()
        screenshot(kominfo, "console-audit")
