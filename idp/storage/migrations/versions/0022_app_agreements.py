"""app agreements: a person's agreement that a session app receives the identity claims it names
(idp.app_agreement), asked again when the app's claims grow; each gateway session keeps the claims agreed when it
was made (NULL for sessions made before: not limited)

Revision ID: 0022
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("agreed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "app_id"),
    )
    with op.batch_alter_table("app_agreements") as batch:
        batch.create_index("ix_app_agreements_user_id", ["user_id"], unique=False)
        batch.create_index("ix_app_agreements_app_id", ["app_id"], unique=False)
    with op.batch_alter_table("gateway_sessions") as batch:
        batch.add_column(sa.Column("claims", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_sessions") as batch:
        batch.drop_column("claims")
    with op.batch_alter_table("app_agreements") as batch:
        batch.drop_index("ix_app_agreements_app_id")
        batch.drop_index("ix_app_agreements_user_id")
    op.drop_table("app_agreements")
