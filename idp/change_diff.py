"""What a change changed, as the audit log records it: ``{field: {"from": old, "to": new}}`` for each field that moved."""

from __future__ import annotations

from typing import Any


def build_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Only the fields whose value differs; a field missing on one side reads as ``None`` there."""
    return {
        name: {"from": before.get(name), "to": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
