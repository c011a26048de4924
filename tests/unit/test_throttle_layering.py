"""``throttle`` is shared by the provider and the gateway: it imports neither (only ``policies``)."""

from __future__ import annotations

import ast
from pathlib import Path

import throttle


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_throttle_imports_neither_idp_nor_gateway() -> None:
    for path in Path(throttle.__file__).parent.glob("*.py"):
        assert not imported_packages(path) & {"idp", "gateway"}, path.name


def test_the_providers_auth_limits_do_not_import_the_gateway() -> None:
    import idp.auth_limits

    assert "gateway" not in imported_packages(Path(idp.auth_limits.__file__))
