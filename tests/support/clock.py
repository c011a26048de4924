"""A frozen test clock brought up to the real time when the hub's app is built, i.e. after the seed.

The seed stamps ``password_changed_at`` with the real time; a frozen clock started before the seed
(fixtures run in that order) would make the seeded users' sessions look older than their passwords.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from idp.app import create_app
from idp.clock import FrozenClock
from idp.settings import Settings


def app_with_clock(clock: FrozenClock, create: Callable[..., Any] = create_app) -> Callable[[Settings], Any]:
    """``create``: the provider's ``create_app`` by default; ``gateway.app.create_app`` for the whole hub."""

    def factory(settings: Settings) -> Any:
        clock.value = max(clock.value, int(time.time()))
        return create(settings, clock=clock)

    return factory
