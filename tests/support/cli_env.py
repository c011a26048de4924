"""Running ``gerbang`` commands in-process against a test database, and reading what they left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from gateway.cli import main
from idp.storage.db import build_engine, build_sessionmaker
from idp.storage.models import AuditEntry

CLI_SECRET = "s" * 40
CLI_ISSUER = "http://127.0.0.1:8000"


def use_database(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    """Point the CLI's settings at ``database_url``, with no stray configuration file or variable."""
    monkeypatch.setenv("GERBANG_DATABASE_URL", database_url)
    monkeypatch.setenv("GERBANG_SECRET_KEY", CLI_SECRET)
    monkeypatch.setenv("GERBANG_ISSUER", CLI_ISSUER)
    monkeypatch.setenv("GERBANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GERBANG_UPSTREAM_ALLOW", "127.0.0.0/8,::1/128")  # the tests' upstreams run on loopback
    monkeypatch.delenv("GERBANG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*args: str, input: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, (args, result.output)
    return result


def audit_entries(database_url: str, since: int = 0) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        engine = build_engine(database_url)
        try:
            async with build_sessionmaker(engine)() as session:
                return list(
                    (
                        await session.scalars(select(AuditEntry).where(AuditEntry.seq > since).order_by(AuditEntry.seq))
                    ).all()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def run_query(database_url: str, statement: Any) -> list[Any]:
    async def read() -> list[Any]:
        engine = build_engine(database_url)
        try:
            async with build_sessionmaker(engine)() as session:
                return list((await session.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())
