"""every OPD app on its own origin: resource identifiers move from {issuer}/apps/{slug}/ to https://{slug}.{apps_domain}/

Revision ID: 0005
Revises: 0004

An app's default RFC 8707 resource identifier (the ``aud`` of its tokens and of its ``X-Gerbang-Assertion``)
becomes its own origin followed by ``/`` (``idp.app_origins``). This migration rewrites the old default of
every registered app wherever it is stored: the resources clients may ask for (``clients.resources``), live
grants (so refresh tokens go on working for the new audience) and unredeemed codes; an ``apps.resource`` that
held the old default is cleared so it follows the new one. Access tokens already issued keep their old
``aud`` until they expire (minutes): the gateway refuses them, the client refreshes.

The issuer and the apps domain come from the caller (``gerbang db upgrade`` passes its settings), else from
``GERBANG_ISSUER`` / ``GERBANG_APPS_DOMAIN``. ``gateway_sessions`` gains ``app``: a session made on one app's
host is valid there only (sessions from before the upgrade carry none and sign in again, silently via SSO).
Downgrade maps the identifiers back and drops the column.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op

from idp.app_origins import default_resource, legacy_resource

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LIST_COLUMNS = (("clients", "id"), ("grants", "id"), ("authorization_codes", "code_digest"))


def upgrade() -> None:
    with op.batch_alter_table("gateway_sessions") as batch:
        batch.add_column(sa.Column("app", sa.String(length=64), nullable=True))
    mapping = _mapping()
    _rewrite(mapping)
    apps = sa.table("apps", sa.column("slug", sa.String), sa.column("resource", sa.String))
    for old in mapping:
        op.get_bind().execute(apps.update().where(apps.c.resource == old).values(resource=None))


def downgrade() -> None:
    _rewrite({new: old for old, new in _mapping().items()})
    with op.batch_alter_table("gateway_sessions") as batch:
        batch.drop_column("app")


def _mapping() -> dict[str, str]:
    """Old identifier → new, for every registered app."""
    issuer, apps_domain = _origins()
    slugs = op.get_bind().execute(sa.text("SELECT slug FROM apps")).scalars().all()
    return {legacy_resource(issuer, slug): default_resource(issuer, apps_domain, slug) for slug in slugs}


def _origins() -> tuple[str, str]:
    attributes = context.config.attributes
    if "gerbang_issuer" in attributes:
        return attributes["gerbang_issuer"], attributes["gerbang_apps_domain"]
    from idp.settings import Settings  # the environment, as the running hub reads it

    settings = Settings()
    return settings.issuer, settings.apps_domain


def _rewrite(mapping: dict[str, str]) -> None:
    if not mapping:
        return
    bind = op.get_bind()
    for table_name, key in LIST_COLUMNS:
        table = sa.table(table_name, sa.column(key, sa.String), sa.column("resources", sa.JSON))
        for row_key, resources in bind.execute(sa.select(table.c[key], table.c.resources)).all():
            changed = _mapped(resources or [], mapping.get)
            if changed != (resources or []):
                bind.execute(table.update().where(table.c[key] == row_key).values(resources=changed))


def _mapped(resources: list[str], lookup: Callable[[str], str | None]) -> list[str]:
    return list(dict.fromkeys(lookup(uri) or uri for uri in resources))
