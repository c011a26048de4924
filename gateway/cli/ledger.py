"""``gerbang ledger verify|export``: the receipts ledger of ``ledger`` apps (gateway.integrity)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from gateway.cli import load_settings
from gateway.cli.audit import _existing_secret
from gateway.cli.runtime import emit, json_option, run_in_session

if TYPE_CHECKING:  # storage and crypto load when a command runs, not for --help
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.integrity.ledger_verify import LedgerReport
    from gateway.settings import Settings

EXIT_TAMPERED = 3


@click.group("ledger")
def ledger_group() -> None:
    """The receipts ledger of signed requests (integrity ledger apps)."""


@ledger_group.command("verify")
@json_option
def ledger_verify(as_json: bool) -> None:
    """Check every receipt's link and every signed checkpoint: edits, deletions, insertions, reordering, truncation.

    Exit status: 0 intact, 3 tampering found, 1 the ledger could not be read.
    """
    from gateway.integrity.ledger_store import verify_stored
    from idp.audit_verify import load_public_jwks

    settings = load_settings()

    async def op(session: AsyncSession) -> LedgerReport:
        return await verify_stored(session, await load_public_jwks(session, _existing_secret(settings)))

    report = run_in_session(settings, op)
    emit(as_json, report.as_dict(), report.summary())
    if not report.intact:
        sys.exit(EXIT_TAMPERED)


@ledger_group.command("export")
@click.option("--app", "app", required=True, help="the app's slug")
@click.option(
    "--since",
    default="1970-01-01T00:00:00+00:00",
    show_default=True,
    help="ISO 8601 time (2026-12-01T00:00:00+07:00) or UNIX seconds",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="file to write (default: standard output)",
)
def ledger_export(app: str, since: str, output: Path | None) -> None:
    """JSON Lines: one receipt per line with its proof (its batch's signed checkpoint and its audit path, the
    Gerbang-Receipt format), then the newest signed checkpoint."""
    from sqlalchemy.exc import OperationalError

    settings = load_settings()
    since_ms = _parse_since(since)

    try:
        lines = asyncio.run(_export(settings, app, since_ms))
    except (OperationalError, OSError) as exc:
        click.echo(f"error: the database is not reachable or not migrated: {exc}", err=True)
        sys.exit(1)
    stream: IO[str] = output.open("w", encoding="utf-8") if output is not None else sys.stdout
    try:
        for line in lines:
            stream.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    finally:
        if output is not None:
            stream.close()


async def _export(settings: Settings, app: str, since_ms: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from gateway.integrity.ledger_store import BatchProver, list_receipts
    from idp.storage.db import build_engine, build_sessionmaker
    from idp.storage.gateway_models import LedgerCheckpoint

    engine = build_engine(settings.effective_database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        lines: list[dict[str, Any]] = []
        async with sessionmaker() as session:
            prover = BatchProver(session)
            after = 0
            while page := await list_receipts(session, app, since_ms=since_ms, after_seq=after, limit=1000):
                for link in page:
                    proven = await prover.prove(link)
                    lines.append({"receipt": link.as_json(), "proof": proven.token() if proven is not None else None})
                after = page[-1].seq
            newest = await session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.seq.desc()).limit(1))
        if newest is not None:
            lines.append({"checkpoint": {"seq": newest.seq, "hash": newest.hash, "token": newest.token}})
        return lines
    finally:
        await engine.dispose()


def _parse_since(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time or UNIX seconds: {value}", param_hint="--since") from None


def register(group: click.Group) -> None:
    group.add_command(ledger_group)
