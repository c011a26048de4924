"""Gerbang set up and served through its real CLI, exactly as an operator would.

``gerbang db upgrade``, ``opd add``, ``clients add``, ``apps add`` against a SQLite file in a temp
dir (or a fresh database on a PostgreSQL server, dropped afterwards: ``--database``), then ``gerbang serve --port P --workers N`` with ``GERBANG_*`` settings in the environment.
A command that fails (or does not exist yet) makes the targets that need it unavailable, with
the command and its last line of output as the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtests.harness.errors import Unavailable
from loadtests.harness.process import Service, build_environment, start_service
from loadtests.harness.tokens import ClientCredentials


@dataclass(frozen=True, slots=True)
class Site:
    """A Gerbang database with one OPD, one client_credentials client and the benchmark's apps."""

    root: Path
    issuer: str
    port: int
    env: dict[str, str]
    client: ClientCredentials


def find_gerbang() -> str:
    """``$GERBANG_BENCH_CLI`` (another build to measure), else the script beside this interpreter, else PATH."""
    override = os.environ.get("GERBANG_BENCH_CLI")
    if override:
        return override
    beside = Path(sys.executable).parent / "gerbang"
    found = str(beside) if beside.exists() else shutil.which("gerbang")
    if found is None:
        raise Unavailable("the gerbang command is not installed (pip install -e .)")
    return found


def build_site(root: Path, port: int, database_url: str | None = None) -> Site:
    """The database and the client; the apps are added separately (``add_apps``).

    ``database_url``: an empty database made by ``create_database``; default a SQLite file under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "GERBANG_DATA_DIR": str(root),
        "GERBANG_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{root / 'gerbang.db'}",
        "GERBANG_ISSUER": issuer,
        "GERBANG_ACCESS_TOKEN_TTL": "3600",
        "GERBANG_UPSTREAM_ALLOW": "127.0.0.0/8,::1/128",
    }  # the bench's upstreams run on loopback
    resource = f"http://api.localhost:{port}/"  # the app's own origin + "/" (GERBANG_APPS_DOMAIN: localhost)
    run_cli(env, "db", "upgrade", cwd=root)
    run_cli(env, "opd", "add", "--slug", "dishub", "--name", "Dinas Perhubungan", "--kind", "dinas", "--json", cwd=root)
    created = run_cli(
        env,
        "clients",
        "add",
        "--name",
        "bench",
        "--opd",
        "dishub",
        "--grant",
        "client_credentials",
        "--resource",
        resource,
        "--scope",
        "api",
        "--json",
        cwd=root,
    )
    record = json.loads(created)
    client = ClientCredentials(client_id=record["client_id"], client_secret=record["client_secret"], resource=resource)
    return Site(root=root, issuer=issuer, port=port, env=env, client=client)


def create_database(server: str) -> str:
    """A fresh database on the PostgreSQL server ``server`` (``postgresql://user@host:port``); its URL."""
    name = f"gerbang_bench_{secrets.token_hex(4)}"
    _admin(server, f'CREATE DATABASE "{name}"')
    return f"postgresql+asyncpg://{_without_database(server)}/{name}"


def drop_database(server: str, url: str) -> None:
    _admin(server, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _admin(server: str, statement: str) -> None:
    import asyncpg  # a dependency of Gerbang itself

    async def run() -> None:
        connection = await asyncpg.connect(f"postgresql://{_without_database(server)}/postgres", timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as exc:
        raise Unavailable(f"PostgreSQL at {server}: {exc}") from exc


def _without_database(server: str) -> str:
    """``user@host:port`` from ``postgresql[+driver]://user@host:port[/db]``."""
    return server.split("://", 1)[-1].split("/", 1)[0]


def add_apps(site: Site, upstream_url: str) -> None:
    """``api`` (bearer) and ``open`` (auth none), both in front of the benchmark's upstream; ``api-signed`` and
    ``api-ledger``: ``api`` with the integrity modes (docs/integrity.md), taking the same token (same resource)."""
    for slug, auth in (("api", "bearer"), ("open", "none")):
        run_cli(
            site.env,
            "apps",
            "add",
            "--slug",
            slug,
            "--opd",
            "dishub",
            "--upstream",
            upstream_url,
            "--auth",
            auth,
            "--json",
            cwd=site.root,
        )
    for mode in ("signed", "ledger"):
        run_cli(
            site.env,
            "apps",
            "add",
            "--slug",
            f"api-{mode}",
            "--opd",
            "dishub",
            "--upstream",
            upstream_url,
            "--auth",
            "bearer",
            "--resource",
            site.client.resource,
            "--integrity",
            mode,
            "--json",
            cwd=site.root,
        )


def start_gerbang(
    name: str, site: Site, workers: int, extra_env: dict[str, str], pin: list[str], log_dir: Path
) -> Service:
    argv = [find_gerbang(), "serve", "--port", str(site.port), "--workers", str(workers)]
    return start_service(
        name, argv, pin=pin, log_dir=log_dir, env={**site.env, **extra_env}, cwd=site.root, drop_prefix="GERBANG_"
    )


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    """One ``gerbang`` command with only the benchmark's ``GERBANG_*`` settings (none from the caller's shell),
    run in the site's directory so no ``gerbang.toml`` lying around is read."""
    try:
        done = subprocess.run(
            [find_gerbang(), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=build_environment(env, drop_prefix="GERBANG_"),
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"`gerbang {' '.join(args[:2])}` took longer than 120 s") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit code {done.returncode}"]
        raise Unavailable(f"`gerbang {' '.join(args[:2])}` failed: {lines[-1].strip()}")
    return done.stdout
