"""rights and claims: staff fulfil data subject requests (data_requests.target, .outcome); per-app assertion
claims (apps.claims: null keeps the default set)

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_requests") as batch:
        batch.add_column(sa.Column("target", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("outcome", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("claims", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("claims")
    with op.batch_alter_table("data_requests") as batch:
        batch.drop_column("outcome")
        batch.drop_column("target")
