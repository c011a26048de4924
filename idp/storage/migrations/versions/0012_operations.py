"""operations: a client's previous secret keeps working for a grace period after `gerbang clients rotate-secret`
(users.nip, which `gerbang users import` fills, comes with 0011)

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("previous_secret_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret_digest")
