"""The registration workflow in a real browser (Debian chromium): an OPD operator submits an app in the console,
a Kominfo admin approves it and it is reachable through the gateway, suspending makes it unreachable, and an
admin of another OPD never sees it. Screenshots of the console pages are saved as test artifacts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from gateway.app import create_app
from policies.loader import DEFAULT_POLICY_DIR
from tests.support.admin import BPKAD_ADMIN, DISHUB_OPERATOR, KOMINFO, UPT_ASN, add_units, run_seed
from tests.support.browser import agree_to_app, chromium, screenshot
from tests.support.eventually import eventually
from tests.support.hub import HUB_POLICIES, PASSWORD, Hub, run_hub
from tests.support.server import run_server
from tests.support.upstream import Upstream

pytestmark = pytest.mark.browser


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[tuple[Hub, str]]:
    with run_server(Upstream("parkir")) as upstream:
        with run_hub(database_url, tmp_path, app_factory=create_app, registry_refresh_seconds=0.2) as hub:
            run_seed(database_url, hub.seeded.users)
            yield hub, upstream


@pytest.fixture
def ruled_hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub whose policies carry the shipped rule set (so the policies page has rules to show)."""
    policies = tmp_path / "policies"
    shutil.copytree(HUB_POLICIES, policies)
    shutil.copy(DEFAULT_POLICY_DIR / "10-rules.yaml", policies / "10-rules.yaml")
    with run_hub(database_url, tmp_path, app_factory=create_app, policy_dir=policies) as hub:
        run_seed(database_url, hub.seeded.users)
        yield hub


def sign_in(browser: Any, hub: Hub, email: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{hub.url}/admin/")
    page.fill("#login", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/admin/antrean")
    return page


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
        expect(operator.locator("body")).to_contain_text("menunggu persetujuan")

        kominfo = sign_in(browser, hub, KOMINFO)
        expect(kominfo.locator('tr[data-slug="parkir"]')).to_have_count(1)
        screenshot(kominfo, "console-approval-queue")
        kominfo.click('tr[data-slug="parkir"] >> text=Setujui')
        assert kominfo.locator("#client-secret").inner_text()
        screenshot(kominfo, "console-approved")

        def reachable() -> bool:
            response = kominfo.goto(f"{hub.app_url('parkir')}/echo")
            if "/auth/consent" in kominfo.url:  # the first time: the hub asks before the app gets an identity
                agree_to_app(kominfo)
                kominfo.wait_for_url(f"{hub.app_url('parkir')}/echo")
                response = kominfo.goto(f"{hub.app_url('parkir')}/echo")
            return response is not None and response.status == 200 and '"method"' in kominfo.content()

        assert eventually(reachable)  # the gateway signs the admin in from their provider session

        kominfo.goto(f"{hub.url}/admin/aplikasi?status=active")
        screenshot(kominfo, "console-apps")
        kominfo.fill('tr[data-slug="parkir"] input[name=reason]', "uji tombol darurat")
        kominfo.click('tr[data-slug="parkir"] >> text=Hentikan sementara')

        def unavailable() -> bool:
            response = kominfo.goto(f"{hub.app_url('parkir')}/echo")
            return response is not None and response.status == 503

        assert eventually(unavailable)

        bpkad = sign_in(browser, hub, BPKAD_ADMIN)
        bpkad.goto(f"{hub.url}/admin/aplikasi")
        expect(bpkad.locator('tr[data-slug="parkir"]')).to_have_count(0)
        screenshot(bpkad, "console-other-opd")
        kominfo.goto(f"{hub.url}/admin/pengguna?q=dishub")
        screenshot(kominfo, "console-users")
        kominfo.goto(f"{hub.url}/admin/audit")
        expect(kominfo.locator('tbody td[title="app.suspend"]').first).to_be_visible()
        screenshot(kominfo, "console-audit")


def test_the_control_pages_through_the_navigation_bar_in_both_languages(ruled_hub: Hub) -> None:
    hub = ruled_hub
    add_units(hub.settings.database_url, "bpkad", 60)
    with chromium() as browser:
        kominfo = sign_in(browser, hub, KOMINFO)
        kominfo.click("#console-nav >> text=Pohon OPD")
        expect(kominfo.locator('#opd-units tr[data-slug="kota-palembang"]')).to_have_count(1)
        kominfo.click('#opd-units tr[data-slug="kota-palembang"] >> text=Buka')
        kominfo.click('#opd-units tr[data-slug="bpkad"] >> text=Buka')
        expect(kominfo.locator("#opd-units tbody tr")).to_have_count(50)
        expect(kominfo.locator("a[rel=next]")).to_have_count(1)
        screenshot(kominfo, "console-opd-tree")

        kominfo.click("#console-nav >> text=Klien OAuth")
        client_id = hub.client("Bapenda Integrasi")[0]
        row = f'#clients tr[data-client-id="{client_id}"]'
        kominfo.click(f"{row} >> text=Hentikan sementara")
        assert client_id in kominfo.inner_text("#done")
        kominfo.goto(f"{hub.url}/admin/klien")
        assert kominfo.inner_text(f"{row} .status-suspended") == "dihentikan"
        screenshot(kominfo, "console-clients")

        kominfo.click("#console-nav >> text=Kunci penanda tangan")
        old = kominfo.get_attribute("#keys tbody tr", "data-kid")
        kominfo.click("#rotate-key button")
        assert "sudah terbit" in kominfo.inner_text("#done")
        kominfo.goto(f"{hub.url}/admin/kunci")
        expect(kominfo.locator("#keys tbody tr")).to_have_count(2)
        assert kominfo.inner_text(f'#keys tr[data-kid="{old}"] .state') == "aktif"  # signs until the next one does
        assert kominfo.inner_text("#keys tr.key-next .state") == "berikutnya (sudah terbit, belum menandatangani)"
        screenshot(kominfo, "console-keys")

        kominfo.click("#console-nav >> text=Kebijakan")
        assert kominfo.locator("#policy-fingerprint").inner_text()
        trial = '#policy-rules tr[data-rule="e-budgeting-night-writes-trial"]'
        assert kominfo.inner_text(f"{trial} .report-only") == "ya"
        screenshot(kominfo, "console-policies")

        kominfo.click("#console-nav >> text=Pengguna")
        upt_row = f'tr[data-email="{UPT_ASN}"]'
        kominfo.click(f"{upt_row} >> text=Reset MFA")
        assert "MFA pengguna direset" in kominfo.inner_text("#done")

        kominfo.click("#lang-switch")  # after a form: on to the page it came from, in English
        expect(kominfo).to_have_url(f"{hub.url}/admin/pengguna?lang=en")
        expect(kominfo.locator("html[lang=en]")).to_have_count(1)
        expect(kominfo.locator(f"{upt_row} >> text=Reset MFA")).to_have_count(1)
        kominfo.click("#console-nav >> text=OPD tree")
        expect(kominfo.locator("#opd-units tr[data-slug='kota-palembang']")).to_have_count(1)
        screenshot(kominfo, "console-opd-tree-en")
        kominfo.click("#console-nav >> text=Signing keys")
        screenshot(kominfo, "console-keys-en")
        kominfo.click("#lang-switch")
        expect(kominfo.locator("html[lang=id]")).to_have_count(1)

        bpkad = sign_in(browser, hub, BPKAD_ADMIN)
        expect(bpkad.locator("#console-nav >> text=Kunci penanda tangan")).to_have_count(0)
        bpkad.click("#console-nav >> text=Pohon OPD")
        expect(bpkad.locator("#opd-units tbody tr")).to_have_count(1)
        assert bpkad.get_attribute("#opd-units tbody tr", "data-slug") == "bpkad"
        bpkad.goto(f"{hub.url}/admin/opd?di=dishub")
        assert "tidak berwenang" in bpkad.inner_text("#error-message")
        screenshot(bpkad, "console-other-opd-tree")
