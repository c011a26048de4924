"""Debian's chromium driven by Python playwright (never ``playwright install``), and a hub on ``localhost``.

WebAuthn refuses an IP address as relying-party id, so browser tests use ``http://localhost:PORT``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from tests.support.ci import skip_or_fail
from tests.support.hub import HUB_POLICIES, Hub, free_port, seed
from tests.support.server import run_server

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


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is missing", "a missing browser is a failure")


@contextmanager
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def run_localhost_hub(database_url: str, tmp_path: Path, app_factory: Any, **overrides: Any) -> Iterator[Hub]:
    """``overrides``: settings fields for this hub (``policy_dir`` defaults to the test hubs' policies)."""
    port = free_port()
    url = f"http://localhost:{port}"
    overrides.setdefault("policy_dir", HUB_POLICIES)
    settings = Settings(issuer=url, database_url=database_url, data_dir=tmp_path, secret_key="t" * 40, **overrides)
    seeded = asyncio.run(seed(database_url))
    with run_server(app_factory(settings), port=port):
        yield Hub(url, settings, seeded)
