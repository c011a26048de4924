"""Debian chromium driven by Python playwright (never `playwright install`: its download is blocked)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ci import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("GERBANG_TEST_ARTIFACTS", "test-artifacts"))


@contextmanager
def chromium() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        skip_or_fail("chromium is not installed", ".ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def agree_to_app(page: object) -> None:
    """The hub asks before a session app first receives a person's identity (``idp.app_agreement``): agree."""
    page.wait_for_selector("#app-consent")  # type: ignore[attr-defined]
    page.click("button[name=decision][value=allow]")  # type: ignore[attr-defined]
