"""The console asks Kominfo administrators for a second factor (policy: ``kominfo-console``'s ``require_acr``,
``2`` when the policy set does not name it): a password alone is refused with a page saying what to do; after
enrolling TOTP the same administrator steps up and gets in. OPD admins are not held to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.app import create_app
from idp.clock import SystemClock
from tests.support.admin import DISHUB_ADMIN, KOMINFO, run_seed
from tests.support.hub import HUB_POLICIES, Browser, Hub, run_hub
from tests.support.totp_steps import answer_mfa, code_at, enrol_totp


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    policies = tmp_path / "policies"
    policies.mkdir()
    document = yaml.safe_load((HUB_POLICIES / "00-hub.yaml").read_text(encoding="utf-8"))
    document.pop("apps", None)  # no kominfo-console entry: the default level applies
    (policies / "00-limits.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with run_hub(database_url, tmp_path, app_factory=create_app, policy_dir=policies) as running:
        run_seed(database_url, running.seeded.users)
        yield running


def test_a_password_alone_keeps_a_kominfo_admin_out_and_totp_lets_her_in(hub: Hub) -> None:
    browser = Browser(hub)
    page = browser.go("/admin/")
    refused = browser.login(page, KOMINFO)
    assert refused.status_code == 403 and "faktor kedua" in refused.text and "/account" in refused.text
    assert "Antrean" not in browser.go("/admin/antrean").text

    secret, _ = enrol_totp(browser, SystemClock())
    page = browser.go("/admin/login")  # the session is still at acr 1: the provider asks for the second factor
    assert page.url.path == "/auth/mfa", page.url
    landed = answer_mfa(browser, code_at(secret, int(time.time()) + 30))
    assert landed.status_code == 200 and landed.url.path == "/admin/antrean", (landed.url, landed.text[:300])
    browser.close()


def test_an_opd_admin_is_not_held_to_the_kominfo_level(hub: Hub) -> None:
    browser = Browser(hub)
    landed = browser.login(browser.go("/admin/"), DISHUB_ADMIN)
    assert landed.status_code == 200 and landed.url.path == "/admin/antrean"
    browser.close()


def test_the_shipped_policy_names_the_level_without_promising_a_passkey() -> None:
    from gateway.admin.console_acr import required_console_acr
    from policies import DEFAULT_POLICY_DIR, load_policy_dir

    shipped = load_policy_dir(DEFAULT_POLICY_DIR)
    assert required_console_acr(shipped) == "2"
    text = (DEFAULT_POLICY_DIR / "00-apps.yaml").read_text(encoding="utf-8")
    entry = text[text.index("slug: kominfo-console") :].split("- slug:")[0]
    assert "second factor" in entry and "needs a passkey" not in entry
