"""access claims: each gateway access row names the identity claims the app's assertion carried (names only;
NULL for rows written before, shown as "not recorded")

Revision ID: 0019
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_accesses") as batch:
        batch.add_column(sa.Column("claims", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_accesses") as batch:
        batch.drop_column("claims")
