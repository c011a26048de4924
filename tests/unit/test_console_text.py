"""The console's two languages stay in step: every key in both tables, every key a template or the console
asks for exists (a missing one would show the bare key to an administrator)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.admin import client_review
from gateway.admin.console import USER_ACTIONS
from gateway.admin.console_text import TEXT, console_translator

ADMIN = Path(__file__).resolve().parents[2] / "gateway" / "admin"


def test_both_languages_have_the_same_keys() -> None:
    assert set(TEXT["id"]) == set(TEXT["en"])
    assert all(TEXT["id"][key] != TEXT["en"][key] for key in TEXT["id"] if key.startswith("nav."))


def test_every_literal_key_used_exists() -> None:
    used: set[str] = set()
    for path in [*(ADMIN / "templates").glob("*.html"), *ADMIN.glob("console*.py")]:
        used.update(re.findall(r"""\bt\(\s*["']([a-z0-9_.-]+)["']\s*\)""", path.read_text(encoding="utf-8")))
        used.update(re.findall(r'"title_key": "([a-z0-9_.-]+)"', path.read_text(encoding="utf-8")))
        used.update(re.findall(r'\("/admin/[a-z-]*", "(nav\.[a-z]+)"\)', path.read_text(encoding="utf-8")))
    assert len(used) > 60
    assert sorted(used - set(TEXT["id"])) == []


def test_computed_keys_exist() -> None:
    computed = [
        *(f"done.{action}" for action in USER_ACTIONS),
        *(f"done.client.{action}" for action in client_review.TRANSITIONS),
        *(f"clients.{action}" for action in client_review.TRANSITIONS),
        *(f"status.{s}" for s in ("pending", "active", "suspended", "rejected", "retired", "expired")),
        *(f"effect.{e}" for e in ("allow", "deny", "report-only")),
        *(f"error.{status}" for status in (400, 403, 404, 409, 413, 500, 503)),
    ]
    english = console_translator("en")
    assert [key for key in computed if english(key) == key] == []
