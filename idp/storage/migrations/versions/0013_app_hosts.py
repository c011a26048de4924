"""app hosts: an app may be served at several extra host names (``app_hosts``, one app per host), replacing the
single ``apps.host`` column; existing values move into the table (and back on downgrade: the first host by name)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_hosts",
        sa.Column("host", sa.String(length=253), primary_key=True),
        sa.Column("app_id", sa.Integer(), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_app_hosts_app_id", "app_hosts", ["app_id"])
    op.execute("INSERT INTO app_hosts (host, app_id) SELECT host, id FROM apps WHERE host IS NOT NULL")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("host")


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("host", sa.String(length=253), nullable=True))
        batch.create_unique_constraint("uq_apps_host", ["host"])
    # One host per app fits the old column: the first by name (the others are dropped with the table).
    op.execute("UPDATE apps SET host = (SELECT min(h.host) FROM app_hosts h WHERE h.app_id = apps.id)")
    op.drop_index("ix_app_hosts_app_id", table_name="app_hosts")
    op.drop_table("app_hosts")
