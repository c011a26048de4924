"""``gerbang users import FILE.csv``: an ASN staff list (nip, name, email, opd, roles) in one transaction."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway.cli import load_settings
from gateway.cli.actor import cli_actor
from gateway.cli.runtime import emit, json_option, run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

EXIT_BAD_ROWS = 1


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="import the good rows even when some are bad")
@json_option
def users_import(path: Path, skip_bad: bool, as_json: bool) -> None:
    """Import staff from CSV with the header nip,name,email,opd,roles (roles separated by ';').

    Every bad row is reported with its line number; with any bad row nothing is imported unless --skip-bad.
    Rows whose email already has an account update it, so importing the same file again changes nothing."""
    from gateway.staff_import import check_against_database, import_staff, parse_staff_csv

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    report = parse_staff_csv(text)
    settings = load_settings()

    async def op(session: AsyncSession) -> None:
        await check_against_database(session, report)
        if report.problems and not skip_bad:
            return
        await import_staff(session, report, actor=cli_actor(), now=int(time.time()))

    run_in_session(settings, op)
    for line, problem in report.problems:
        click.echo(f"{path}:{line}: {problem}", err=True)
    refused = bool(report.problems) and not skip_bad
    human = (
        "nothing imported: fix the rows above or pass --skip-bad"
        if refused
        else f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
        + (f", {len(report.problems)} bad rows skipped" if report.problems else "")
    )
    emit(as_json, {**report.as_json(), "imported": not refused}, human)
    if refused:
        sys.exit(EXIT_BAD_ROWS)


def extend(group: click.Group) -> None:
    group.add_command(users_import)
