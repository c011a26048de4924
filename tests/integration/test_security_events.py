"""Security events from the sign-in page: a lock-out is attributed to the account (without storing what was typed)
and written once per quiet period, not once per throttled request; both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idp.app import create_app
from idp.clock import FrozenClock
from idp.security_events import LOCKOUT_QUIET
from idp.settings import Settings
from idp.storage.models import SecurityEvent
from tests.integration.test_login_throttle import RefuseAll
from tests.support.hub import PASSWORD, Browser, Hub, csrf_from, run_hub
from tests.support.records import rows


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def hub(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Hub]:
    def factory(settings: Settings) -> Any:
        app = create_app(settings, clock=clock)
        app.state.provider.throttle = RefuseAll()  # the rate-limit engine saying no: outside this package
        return app

    with run_hub(database_url, tmp_path, app_factory=factory) as running:
        yield running


def test_a_lock_out_is_recorded_once_per_quiet_period(hub: Hub, clock: FrozenClock) -> None:
    browser = Browser(hub)
    page = browser.go("/auth/login")

    def attempt() -> None:
        refused = browser.submit(
            "/auth/login", {"login": "Warga@Example.id", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert refused.status_code == 429

    for _ in range(5):
        attempt()
    [event] = rows(hub.settings.database_url, SecurityEvent)
    assert (event.kind, event.reason, event.user_id) == (
        "login.locked",
        "throttled",
        hub.seeded.users["warga@example.id"],
    )
    assert event.ip == "127.0.0.1" and "Warga@Example.id" not in str(event.detail)
    clock.advance(LOCKOUT_QUIET)
    attempt()
    assert len(rows(hub.settings.database_url, SecurityEvent)) == 2
