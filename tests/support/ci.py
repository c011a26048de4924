"""What a test does when something it needs is missing from the machine: skip it, or fail it under ``CI=true``.

A developer's laptop may lack chromium, nginx or a PostgreSQL server; CI installs them (``.ci/run``), so there a
missing one is a broken run, not a reason to skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def skip_or_fail(reason: str, ci_note: str = "a missing service is a failure") -> NoReturn:
    """Skip the test with ``reason``; under ``CI=true`` fail it instead, saying why (``ci_note``)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: {ci_note})")
    pytest.skip(reason)
