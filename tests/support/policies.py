"""Building policy sets from inline YAML in tests (the same loader the hub uses, no files)."""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

from policies import PolicySet, Request, SourceFile, build_policy_set

MONDAY_10_WIB = datetime.fromisoformat("2026-01-05T10:00:00+07:00")


def policy_from(*texts: str) -> PolicySet:
    """One file per text, named 00.yaml, 01.yaml... in order."""
    return build_policy_set([SourceFile(f"{i:02d}.yaml", textwrap.dedent(text)) for i, text in enumerate(texts)])


def request(**fields: Any) -> Request:
    """A request with test defaults: GET / on app "app" by user "u1" on a Monday 10:00 WIB."""
    values: dict[str, Any] = {"app": "app", "method": "GET", "path": "/", "at": MONDAY_10_WIB, "sub": "u1"}
    values.update(fields)
    if "scopes" in values:
        values["scopes"] = frozenset(values["scopes"])
    return Request(**values)
