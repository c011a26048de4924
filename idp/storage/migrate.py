"""``gerbang db upgrade``: run alembic migrations against the configured database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, *, issuer: str | None = None, apps_domain: str | None = None) -> Config:
    """``issuer``/``apps_domain``: where apps live (migration 0005); unset, the migrations read the environment."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if issuer is not None and apps_domain is not None:
        config.attributes.update(gerbang_issuer=issuer, gerbang_apps_domain=apps_domain)
    return config


def upgrade(
    database_url: str, revision: str = "head", *, issuer: str | None = None, apps_domain: str | None = None
) -> None:
    command.upgrade(alembic_config(database_url, issuer=issuer, apps_domain=apps_domain), revision)
