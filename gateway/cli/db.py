"""``gerbang db upgrade``."""

from __future__ import annotations

import click

from gateway.cli import load_settings


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply schema migrations (alembic) to GERBANG_DATABASE_URL."""
    from idp.storage.migrate import upgrade

    settings = load_settings()
    upgrade(settings.effective_database_url, revision, issuer=settings.issuer, apps_domain=settings.apps_domain)
    click.echo(f"database at revision {revision}")


def register(group: click.Group) -> None:
    group.add_command(db_group)
