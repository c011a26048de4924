"""data rights under UU PDP: security events, deletion and privacy notice columns, the DSR queue, the
processing register and job leases

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deletion_requested_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("erase_after", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("privacy_version", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("privacy_accepted_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_users_erase_after", "users", ["erase_after"])
    op.create_table(
        "security_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False))
    op.create_index("ix_security_events_at", "security_events", ["at"])
    op.create_index("ix_security_events_user_at", "security_events", ["user_id", "at"])
    op.create_index("ix_security_events_kind_at", "security_events", ["kind", "at"])
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("done_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_data_requests_user_id", "data_requests", ["user_id"])
    op.create_index("ix_data_requests_created_at", "data_requests", ["created_at"])
    op.create_table(
        "processing_records",
        sa.Column("app", sa.String(length=64), primary_key=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=64), nullable=False),
        sa.Column("retention", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False))
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False))


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_table("processing_records")
    op.drop_index("ix_data_requests_created_at", table_name="data_requests")
    op.drop_index("ix_data_requests_user_id", table_name="data_requests")
    op.drop_table("data_requests")
    op.drop_index("ix_security_events_kind_at", table_name="security_events")
    op.drop_index("ix_security_events_user_at", table_name="security_events")
    op.drop_index("ix_security_events_at", table_name="security_events")
    op.drop_table("security_events")
    op.drop_index("ix_users_erase_after", table_name="users")
    with op.batch_alter_table("users") as batch:
        for column in ("privacy_accepted_at", "privacy_version", "erase_after", "deletion_requested_at"):
            batch.drop_column(column)
