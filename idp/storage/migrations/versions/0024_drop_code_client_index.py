"""authorization codes: drop the single-column client_id index; (client_id, nonce) serves every lookup by client and
the nonce check, which PostgreSQL had run through the narrower index (every code of the client read) on a table
without fresh statistics

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_index("ix_authorization_codes_client_id")


def downgrade() -> None:
    with op.batch_alter_table("authorization_codes") as batch:
        batch.create_index("ix_authorization_codes_client_id", ["client_id"], unique=False)
