"""receipt outcome: a ledger receipt says how an exchange ended when the client did not receive the whole answer
(client-gone, upstream-cut, no-response); NULL for an answer delivered whole, as every receipt before

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_receipts") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_receipts") as batch:
        batch.drop_column("outcome")
