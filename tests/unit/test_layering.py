"""The dependency direction: policies imports neither idp nor gateway; idp never imports gateway.

And the storage boundary: the gateway's tables (``idp.storage.gateway_models``) are read by the provider only
through the access history (``idp/access_history.py``); the storage layer that declares, migrates and prunes every
table (``idp/storage/``) is the other place in ``idp`` that names them. The provider's HTTP endpoints
(``idp/endpoints/``, the route tables, SCIM's handlers) neither issue SQL nor touch storage through a session
(``session.get``, ``session.add``, ...): their queries and writes live in store modules (``idp/oauth/store.py``,
``idp/accounts.py``, ``idp/scim/users.py``); so do the gateway's console, admin API and session-app handlers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"policies": {"idp", "gateway"}, "idp": {"gateway"}}
GATEWAY_MODELS = "idp.storage.gateway_models"
GATEWAY_MODELS_READERS = ("idp/access_history.py", "idp/storage/")  # the named interface; the storage layer


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


# What a module needs to issue SQL itself: sqlalchemy's statement builders, or running a statement on a session.
SQL_MODULES = ("sqlalchemy", "sqlalchemy.sql", "sqlalchemy.future", "sqlalchemy.orm")
SQL_CALLS = {"execute", "scalar", "scalars", "exec_driver_sql"}
# What else a session does to storage (``get``, ``add``, ...): named only on a session, since ``form.get(...)`` and
# ``seen.add(...)`` are not storage. Opening and ending a transaction (``begin``, ``commit``) is the caller's to do.
STORAGE_CALLS = {"get", "get_one", "add", "add_all", "delete", "merge", "flush", "refresh", "stream", "stream_scalars"}


def session_names(tree: ast.AST) -> set[str]:
    """The names a module binds to a database session: ``session`` (the project's name for one), the target of
    ``async with provider.sessionmaker() as own`` (any factory whose name says session) and parameters annotated
    ``AsyncSession``."""
    names = {"session"}
    for node in ast.walk(tree):
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            factory = node.context_expr.func if isinstance(node.context_expr, ast.Call) else None
            if "session" in (getattr(factory, "attr", None) or getattr(factory, "id", "")).lower():
                names.add(node.optional_vars.id)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            if "AsyncSession" in ast.unparse(node.annotation):
                names.add(node.arg)
    return names


def is_session(receiver: ast.expr, names: set[str]) -> bool:
    """A session bound in the module, or one carried as an attribute (``call.session``, ``self.session``)."""
    return (isinstance(receiver, ast.Name) and receiver.id in names) or (
        isinstance(receiver, ast.Attribute) and receiver.attr == "session"
    )


def sql_issued(path: Path, root: Path) -> list[str]:
    """Where a module imports a statement builder (``from sqlalchemy import select``, ``import sqlalchemy``), calls
    a session's ``execute``/``scalar``/``scalars`` (on anything), or touches storage through a session itself
    (``session.get``, ``session.add``, ...); the exception and typing modules (``sqlalchemy.exc``,
    ``sqlalchemy.ext.asyncio``) are fine, and so is opening a transaction to hand to a store."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relative = path.relative_to(root).as_posix()
    sessions = session_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [(node.lineno, f"imports {name}") for name in names if name in SQL_MODULES]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in SQL_CALLS or (method in STORAGE_CALLS and is_session(node.func.value, sessions)):
                found.append((node.lineno, f"calls .{method}()"))
    return [f"{relative}:{line} {what}" for line, what in sorted(found)]


def imported_modules(path: Path, root: Path) -> set[tuple[int, str]]:
    """(line, dotted name) of every module an import may bind; ``from a.b import c`` yields ``a.b`` and ``a.b.c``
    (``c`` may be a module), relative imports resolved against the module's own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            if not node.level:
                base = node.module or ""
            found.add((node.lineno, base))
            found.update((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add((node.lineno, str(node.args[0].value)))
    return found


def gateway_models_readers(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / "idp").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(GATEWAY_MODELS_READERS):
            continue
        lines = {line for line, name in imported_modules(path, root) if f"{name}.".startswith(f"{GATEWAY_MODELS}.")}
        found += [f"{relative}:{line} imports {GATEWAY_MODELS}" for line in sorted(lines)]
    return found


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


def test_the_provider_reads_the_gateways_tables_only_through_the_access_history() -> None:
    assert (ROOT / "idp" / "storage" / "gateway_models.py").is_file(), "the scan would look for a module that is gone"
    assert any(name == GATEWAY_MODELS for _, name in imported_modules(ROOT / "idp" / "access_history.py", ROOT))
    assert gateway_models_readers() == []


def test_the_boundary_scan_sees_every_import_form(tmp_path: Path) -> None:
    (tmp_path / "idp" / "pdp").mkdir(parents=True)
    (tmp_path / "idp" / "storage").mkdir()
    (tmp_path / "idp" / "pdp" / "probe.py").write_text(
        "from idp.storage.gateway_models import App\nfrom idp.storage import gateway_models\n"
        "import idp.storage.gateway_models\nfrom ..storage import gateway_models\n"
        "from ..storage.gateway_models import GatewaySession\nfrom idp.storage.models import User\n"
        "import importlib\nimportlib.import_module('idp.storage.gateway_models')\n"
    )
    (tmp_path / "idp" / "access_history.py").write_text("from idp.storage.gateway_models import App\n")
    (tmp_path / "idp" / "storage" / "pruner.py").write_text("from .gateway_models import GatewaySession\n")
    assert gateway_models_readers(tmp_path) == [
        f"idp/pdp/probe.py:{line} imports idp.storage.gateway_models" for line in (1, 2, 3, 4, 5, 8)
    ]


def test_the_providers_endpoints_issue_no_sql() -> None:
    endpoints = sorted((ROOT / "idp" / "endpoints").glob("*.py"))
    assert len(endpoints) > 10, "the scan would prove nothing"
    endpoints += sorted((ROOT / "idp").glob("*_routes.py"))
    endpoints += [ROOT / "idp" / "scim" / f"{name}.py" for name in ("auth", "bulk", "endpoints", "group_endpoints")]
    assert [finding for path in endpoints for finding in sql_issued(path, ROOT)] == []


GATEWAY_HANDLERS = (
    "gateway/admin/api.py",
    "gateway/admin/console.py",
    "gateway/admin/console_acr.py",
    "gateway/admin/console_auth.py",
    "gateway/admin/console_control.py",
    "gateway/admin/console_edits.py",
    "gateway/admin/console_idps.py",
    "gateway/admin/console_pdp.py",
    "gateway/admin/edits_api.py",
    "gateway/admin/idp_api.py",
    "gateway/admin/pdp_api.py",
    "gateway/integrity/ledger_routes.py",
    "gateway/session_auth.py",
    # what they lean on for who is calling, and the console's client at start-up
    "gateway/admin/actor.py",
    "gateway/admin/console_client.py",
)


def test_the_gateways_handlers_issue_no_sql() -> None:
    """The console, the admin API, the receipt route and the session apps' login: stores answer for them
    (``gateway/admin/listings.py``, ``gateway/session_store.py``, ``gateway/integrity/ledger_store.py``, ...)."""
    handlers = [ROOT / name for name in GATEWAY_HANDLERS]
    assert all(path.is_file() for path in handlers), "a handler module moved: the scan would miss it"
    assert [finding for path in handlers for finding in sql_issued(path, ROOT)] == []


def test_the_sql_scan_sees_builders_and_statements(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(
        "from sqlalchemy import select\nimport sqlalchemy\nfrom sqlalchemy.exc import SQLAlchemyError\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\nfrom sqlalchemy.orm import aliased\n"
        "async def f(session):\n    await session.execute(q)\n    await session.scalar(q)\n"
        "    await session.get(User, 1)\n    (await session.scalars(q)).all()\n"
    )
    assert sql_issued(tmp_path / "probe.py", tmp_path) == [
        "probe.py:1 imports sqlalchemy",
        "probe.py:2 imports sqlalchemy",
        "probe.py:5 imports sqlalchemy.orm",
        "probe.py:7 calls .execute()",
        "probe.py:8 calls .scalar()",
        "probe.py:9 calls .get()",
        "probe.py:10 calls .scalars()",
    ]


def test_the_storage_scan_sees_every_session_and_only_sessions(tmp_path: Path) -> None:
    """A fake endpoint touching storage through each kind of session it may hold, beside calls that are not
    storage (a form's ``get``, a set's ``add``, a transaction begun to hand to a store)."""
    (tmp_path / "endpoint.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "async def page(request, provider):\n"
        "    async with provider.sessionmaker() as session, session.begin():\n"
        "        user = await session.get(User, request.form.get('id'))\n"
        "        session.add(row)\n"
        "    async with provider.sessionmaker() as own:\n"
        "        await own.delete(user)\n"
        "async def act(writing: AsyncSession, call, seen: set) -> None:\n"
        "    await writing.flush()\n"
        "    await call.session.refresh(row)\n"
        "    seen.add(1)\n"
        "    await store.add_row(writing, row)\n"
        "    async with writing.begin_nested():\n"
        "        await writing.commit()\n"
        "    session = {}\n"
        "    session.get('x')\n"
    )
    assert sql_issued(tmp_path / "endpoint.py", tmp_path) == [
        "endpoint.py:4 calls .get()",
        "endpoint.py:5 calls .add()",
        "endpoint.py:7 calls .delete()",
        "endpoint.py:9 calls .flush()",
        "endpoint.py:10 calls .refresh()",
        "endpoint.py:16 calls .get()",  # a name once bound to a session is read as one throughout the module
    ]
