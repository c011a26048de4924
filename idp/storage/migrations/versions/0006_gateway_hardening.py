"""gateway hardening: per-app path reading (case-insensitive upstream, ambiguous paths opt-in) and WebSocket origins

Revision ID: 0006
Revises: 0005

Existing apps keep the strict defaults: case-sensitive paths, ambiguous paths refused, WebSockets only from
the app's own origin.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("case_insensitive_paths", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("allow_ambiguous_paths", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("websocket_origins", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("websocket_origins")
        batch.drop_column("allow_ambiguous_paths")
        batch.drop_column("case_insensitive_paths")
