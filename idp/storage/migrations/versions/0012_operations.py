"""operations: a client's previous secret keeps working for a grace period after `gerbang clients rotate-secret`;
users carry an ASN's NIP (`gerbang users import`)

Revision ID: 0012
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("previous_secret_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("nip", sa.String(length=18), nullable=True))
        batch.create_unique_constraint("uq_users_nip", ["nip"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_nip", type_="unique")
        batch.drop_column("nip")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret_digest")
