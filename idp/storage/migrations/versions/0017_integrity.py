"""integrity: per-app integrity mode (none | signed | ledger), the RFC 9421 message-signing key's purpose, and the
receipts ledger with its signed checkpoints (gateway.integrity)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("integrity", sa.String(length=8), nullable=False, server_default="none"))
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=16), nullable=False, server_default="jws"))
    op.create_table(
        "ledger_receipts",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("sub", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query_digest", sa.String(length=64), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response_digest", sa.String(length=64), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_ledger_receipts_app_at", "ledger_receipts", ["app", "at_ms"])
    op.create_index("ix_ledger_receipts_request_id", "ledger_receipts", ["request_id"])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_index("ix_ledger_receipts_request_id", table_name="ledger_receipts")
    op.drop_index("ix_ledger_receipts_app_at", table_name="ledger_receipts")
    op.drop_table("ledger_receipts")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("integrity")
