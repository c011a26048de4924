"""FAPI 2.0 and sender-constrained tokens: client profile/PAR/DPoP/ID-token-alg metadata, DPoP-bound codes and
grants, pushed authorization requests (RFC 9126), apps that require DPoP, device codes (RFC 8628)

Revision ID: 0009
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("profile", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("require_par", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("dpop_bound", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("id_token_alg", sa.String(length=8), nullable=True))
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("require_dpop", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("id_token_only", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table("pushed_requests",
                    sa.Column("uri_digest", sa.String(length=64), nullable=False),
                    sa.Column("client_id", sa.String(length=64), nullable=False),
                    sa.Column("params", sa.JSON(), nullable=False),
                    sa.Column("expires_at", sa.BigInteger(), nullable=False),
                    sa.Column("used_at", sa.BigInteger(), nullable=True),
                    sa.PrimaryKeyConstraint("uri_digest"))
    op.create_index("ix_pushed_requests_expires_at", "pushed_requests", ["expires_at"])
    op.create_table("device_codes",
                    sa.Column("code_digest", sa.String(length=64), nullable=False),
                    sa.Column("user_code", sa.String(length=16), nullable=False),
                    sa.Column("client_id", sa.String(length=64), nullable=False),
                    sa.Column("scope", sa.Text(), nullable=False),
                    sa.Column("resources", sa.JSON(), nullable=False),
                    sa.Column("created_at", sa.BigInteger(), nullable=False),
                    sa.Column("expires_at", sa.BigInteger(), nullable=False),
                    sa.Column("interval", sa.Integer(), nullable=False),
                    sa.Column("last_polled_at", sa.BigInteger(), nullable=True),
                    sa.Column("status", sa.String(length=16), nullable=False),
                    sa.Column("family_id", sa.String(length=36), nullable=False),
                    sa.Column("user_id", sa.String(length=36), nullable=True),
                    sa.Column("session_id", sa.String(length=64), nullable=True),
                    sa.Column("auth_time", sa.BigInteger(), nullable=True),
                    sa.Column("acr", sa.String(length=16), nullable=True),
                    sa.Column("amr", sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint("code_digest"),
                    sa.UniqueConstraint("user_code"))
    op.create_index("ix_device_codes_expires_at", "device_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_device_codes_expires_at", table_name="device_codes")
    op.drop_table("device_codes")
    op.drop_index("ix_pushed_requests_expires_at", table_name="pushed_requests")
    op.drop_table("pushed_requests")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("id_token_only")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("require_dpop")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("clients") as batch:
        for column in ("id_token_alg", "dpop_bound", "require_par", "profile"):
            batch.drop_column(column)
