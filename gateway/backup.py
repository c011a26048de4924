"""Backups: one ``.tar.gz`` with a consistent snapshot of the database and the policy directory.

    manifest.json       format, time, backend, schema revision, whether policies are included
    database.sqlite     SQLite's online backup API (a consistent copy while the hub runs), or
    database.pgdump     ``pg_dump --format=custom`` (one consistent snapshot, MVCC)
    policies/...        the configured policy directory, when there is one

Signing keys live in the database, encrypted under ``GERBANG_SECRET_KEY``: they stay encrypted in the backup,
and a restore needs the same secret (keep it apart from the backups, as a secret). Restoring is refused unless
the target database is empty, so a restore never mixes two histories (the audit chain would not verify).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from idp.errors import InvalidInput

FORMAT = 1
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
POLICY_PREFIX = "policies/"


@dataclass(frozen=True)
class Database:
    """Where the database is, for the tools that copy it."""

    backend: str  # "sqlite" | "postgresql"
    sqlite_path: Path | None = None
    libpq_url: str | None = None


def locate_database(url: str) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidInput("an in-memory SQLite database cannot be backed up")
        return Database("sqlite", sqlite_path=Path(parsed.database))
    if parsed.get_backend_name() == "postgresql":
        return Database(
            "postgresql", libpq_url=parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        )
    raise InvalidInput(f"backing up a {parsed.get_backend_name()} database is not supported")


def write_backup(target: Path, database: Database, policy_dir: Path | None, revision: str | None) -> dict[str, Any]:
    """Write the archive next to ``target`` and rename it into place (a failed backup leaves no file)."""
    if target.exists():
        raise InvalidInput(f"{target} exists; name a new file")
    manifest = {
        "format": FORMAT,
        "created_at": int(time.time()),
        "backend": database.backend,
        "revision": revision,
        "policies": policy_dir is not None and policy_dir.is_dir(),
    }
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="gerbang-backup-") as scratch:
        dump = Path(scratch) / (SQLITE_MEMBER if database.backend == "sqlite" else PG_MEMBER)
        _dump(database, dump)
        try:
            with tarfile.open(partial, "w:gz") as archive:
                _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
                archive.add(dump, arcname=dump.name)
                if manifest["policies"]:
                    assert policy_dir is not None
                    archive.add(policy_dir, arcname=POLICY_PREFIX.rstrip("/"))
            os.chmod(partial, 0o600)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _dump(database: Database, dump: Path) -> None:
    if database.backend == "sqlite":
        assert database.sqlite_path is not None
        if not database.sqlite_path.exists():
            raise InvalidInput(f"the database {database.sqlite_path} does not exist")
        source = sqlite3.connect(f"file:{database.sqlite_path}?mode=ro", uri=True)
        copy = sqlite3.connect(dump)
        try:
            source.backup(copy)  # the online backup API: consistent even while the hub writes
        finally:
            copy.close()
            source.close()
        return
    assert database.libpq_url is not None
    _run_tool(
        [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(dump),
            "--dbname",
            database.libpq_url,
        ]
    )


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    archive.addfile(info, io.BytesIO(data))


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        with tarfile.open(source, "r:gz") as archive:
            member = archive.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a Gerbang backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{source} has backup format {manifest.get('format')}; this version reads {FORMAT}")
    return manifest


def restore_backup(source: Path, database: Database, policy_target: Path | None) -> dict[str, Any]:
    """Restore onto an empty database (and policies into an empty or new directory)."""
    manifest = read_manifest(source)
    if manifest["backend"] != database.backend:
        raise InvalidInput(
            f"the backup holds a {manifest['backend']} database; the configured one is "
            f"{database.backend} (restore onto the same kind; `gerbang export`/`apply` moves a "
            "city's set-up between kinds)"
        )
    if policy_target is not None and policy_target.exists() and any(policy_target.iterdir()):
        raise InvalidInput(f"the policy directory {policy_target} is not empty")
    with tempfile.TemporaryDirectory(prefix="gerbang-restore-") as scratch, tarfile.open(source, "r:gz") as archive:
        archive.extractall(scratch, filter="data")
        _load(database, Path(scratch))
        policies = Path(scratch) / POLICY_PREFIX.rstrip("/")
        if policy_target is not None and policies.is_dir():
            shutil.copytree(policies, policy_target, dirs_exist_ok=True)
    return manifest


def _load(database: Database, scratch: Path) -> None:
    if database.backend == "sqlite":
        assert database.sqlite_path is not None
        target = database.sqlite_path
        if target.exists() and _sqlite_has_tables(target):
            raise InvalidInput(f"the database {target} is not empty: restore onto an empty database")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(scratch / SQLITE_MEMBER)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    assert database.libpq_url is not None
    if _pg_has_tables(database.libpq_url):
        raise InvalidInput("the PostgreSQL database is not empty: restore onto an empty database")
    _run_tool(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            database.libpq_url,
            str(scratch / PG_MEMBER),
        ]
    )


def _sqlite_has_tables(path: Path) -> bool:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
    finally:
        connection.close()


def _pg_has_tables(libpq_url: str) -> bool:
    answer = _run_tool(
        [
            "psql",
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--dbname",
            libpq_url,
            "--command",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        ]
    )
    return int(answer.strip() or "0") > 0


def _run_tool(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        raise InvalidInput(f"{command[0]} is not installed (it comes with the PostgreSQL client tools)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InvalidInput(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout
