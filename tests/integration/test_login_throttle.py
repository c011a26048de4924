"""The login-throttle call site: when the rate-limit engine says no, no credential is checked.

The engine itself is outside this package; a refusing implementation of the same interface stands in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idp.app import create_app
from idp.auth_limits import AuthVerdict
from idp.login_throttle import Attempt
from idp.settings import Settings
from tests.support.account_flows import is_signed_in
from tests.support.hub import PASSWORD, Browser, Hub, csrf_from, run_hub


class RefuseAll:
    def __init__(self) -> None:
        self.seen: list[Attempt] = []

    async def admit(self, attempt: Attempt) -> bool:
        return (await self.check(attempt)).allowed

    async def check(self, attempt: Attempt) -> AuthVerdict:
        self.seen.append(attempt)
        return AuthVerdict(False, "refuse-all", retry_after=125)


@pytest.fixture
def throttle() -> RefuseAll:
    return RefuseAll()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, throttle: RefuseAll) -> Iterator[Hub]:
    def factory(settings: Settings) -> Any:
        app = create_app(settings)
        app.state.provider.throttle = throttle
        return app

    with run_hub(database_url, tmp_path, app_factory=factory) as running:
        yield running


def test_refused_attempts_check_nothing(hub: Hub, throttle: RefuseAll) -> None:
    browser = Browser(hub)
    page = browser.go("/auth/login")
    refused = browser.submit(
        "/auth/login", {"login": "Warga@Example.id", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 429 and "Terlalu banyak percobaan" in refused.text
    assert "Coba lagi dalam 3 menit" in refused.text and refused.headers["retry-after"] == "125"
    assert not is_signed_in(browser)
    page = browser.go("/auth/register")
    registered = browser.submit(
        "/auth/register",
        {
            "name": "X",
            "email": "x@example.id",
            "password": "p" * 20,
            "password_confirm": "p" * 20,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert registered.status_code == 429
    page = browser.go("/auth/reset")
    reset = browser.submit("/auth/reset", {"email": "warga@example.id", "csrf_token": csrf_from(page.text)})
    assert reset.status_code == 429
    assert [(a.factor, a.subject, a.client_ip) for a in throttle.seen] == [
        ("password", f"account:{hub.seeded.users['warga@example.id']}", "127.0.0.1"),
        ("register", "x@example.id", "127.0.0.1"),
        ("reset", f"account:{hub.seeded.users['warga@example.id']}", "127.0.0.1"),
    ]
