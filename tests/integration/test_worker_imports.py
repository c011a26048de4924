"""A worker imports Kominfo's admin API and console (``gateway.admin.api``, ~2.5 MiB resident per worker) on the
first ``/admin/`` request, not at start: a hub built from settings and served on loopback, in a fresh
interpreter so nothing another test imported counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
import httpx
from gateway.app import app_from_environment
from tests.support.server import run_server

LAZY = ("gateway.admin.api", "gateway.admin.console")
seen = {}
with run_server(app_from_environment()) as base:
    seen["discovery"] = httpx.get(base + "/.well-known/openid-configuration").status_code
    seen["at_start"] = sorted(name for name in LAZY if name in sys.modules)
    seen["admin"] = httpx.get(base + "/admin/api/openapi.json").status_code
    seen["after_admin"] = sorted(name for name in LAZY if name in sys.modules)
print(json.dumps(seen))
"""


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_admin_api_is_imported_on_its_first_request(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GERBANG_DATA_DIR": str(tmp_path),
        "GERBANG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        "GERBANG_ISSUER": "http://127.0.0.1:8000",
    }
    _run([sys.executable, "-c", "from gateway.cli import main; main()", "db", "upgrade"], env)
    seen = json.loads(_run([sys.executable, "-c", SCRIPT], env).strip().splitlines()[-1])
    assert seen["discovery"] == 200
    assert seen["at_start"] == []
    assert seen["admin"] == 200, seen
    assert seen["after_admin"] == ["gateway.admin.api", "gateway.admin.console"]
