"""``idp.throttle`` is shared by the provider and the gateway: self-contained, it never imports the gateway
nor the rest of the provider (only ``policies`` and itself)."""

from __future__ import annotations

import ast
from pathlib import Path

import idp.throttle


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_throttle_imports_only_itself_and_policies() -> None:
    for path in Path(idp.throttle.__file__).parent.glob("*.py"):
        for module in imported_modules(path):
            root = module.split(".")[0]
            assert root != "gateway", path.name
            assert root != "idp" or module.startswith("idp.throttle"), (path.name, module)


def test_the_providers_auth_limits_do_not_import_the_gateway() -> None:
    import idp.auth_limits

    assert not {m for m in imported_modules(Path(idp.auth_limits.__file__)) if m.split(".")[0] == "gateway"}
