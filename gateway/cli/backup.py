"""``gerbang backup FILE`` and ``gerbang restore FILE`` (see ``gateway.backup`` for what a backup holds)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from gateway.cli import load_settings


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup(target: Path) -> None:
    """Write a consistent snapshot of the database (signing keys still encrypted) and the policy directory.

    Run it daily, copy the file off-site, and test a restore regularly. The hub keeps running meanwhile."""
    from gateway.backup import locate_database, write_backup
    from idp.errors import GerbangError

    settings = load_settings()
    try:
        manifest = write_backup(
            target,
            locate_database(settings.effective_database_url),
            settings.policy_dir,
            _revision(settings.effective_database_url),
        )
    except GerbangError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"backup written to {target} ({manifest['backend']} database at revision {manifest['revision']}"
        + (", policies" if manifest["policies"] else "")
        + ")"
    )


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where to restore the policy files (default: GERBANG_POLICY_DIR, when set)",
)
def restore(source: Path, policy_dir: Path | None) -> None:
    """Restore a backup onto an EMPTY database, then run `gerbang audit verify`.

    The hub must use the same GERBANG_SECRET_KEY as when the backup was taken: the signing keys are encrypted
    with it."""
    from gateway.backup import locate_database, restore_backup
    from idp.errors import GerbangError
    from idp.storage.migrate import upgrade

    settings = load_settings()
    target = policy_dir or settings.policy_dir
    try:
        manifest = restore_backup(source, locate_database(settings.effective_database_url), target)
    except GerbangError as exc:
        raise click.ClickException(exc.message) from exc
    upgrade(settings.effective_database_url)  # a backup from an older release is brought to this one's schema
    click.echo(
        f"restored {source} (taken at {manifest['created_at']}, revision {manifest['revision']})"
        + (f"; policies in {target}" if manifest["policies"] and target else "")
        + "; now run `gerbang audit verify`"
    )


def _revision(url: str) -> str | None:
    from sqlalchemy import text

    from idp.storage.db import build_engine

    async def read() -> str | None:
        engine = build_engine(url)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except Exception:  # noqa: BLE001 - an unmigrated database has no revision; the backup still runs
            return None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def register(group: click.Group) -> None:
    group.add_command(backup)
    group.add_command(restore)
