"""The dependency direction: policies imports neither idp nor gateway; idp never imports gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"policies": {"idp", "gateway"}, "idp": {"gateway"}}


def imported_packages(path: Path, root: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in a module, relative imports resolved to the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the module's own package
                found.add((node.lineno, path.relative_to(root).parts[0]))
            elif node.module:
                found.add((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add((node.lineno, str(node.args[0].value).split(".")[0]))
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in sorted((root / package).rglob("*.py"))
        for line, name in sorted(imported_packages(path, root))
        if name in FORBIDDEN[package]
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_the_layering(package: str) -> None:
    assert list((ROOT / package).rglob("*.py")), f"{package} has no modules: the scan would prove nothing"
    assert violations(package) == []


def test_the_scan_sees_every_import_form(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "probe.py").write_text(
        "import gateway.app\nfrom idp import keys\nimport importlib\nfrom . import engine\n"
        "importlib.import_module('gateway.cli')\n"
    )
    assert violations("policies", tmp_path) == [
        "policies/probe.py:1 imports gateway",
        "policies/probe.py:2 imports idp",
        "policies/probe.py:5 imports gateway",
    ]
