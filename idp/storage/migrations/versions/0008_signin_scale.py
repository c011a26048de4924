"""sign-in at city scale: the nonce replay check is an indexed point lookup; expired grants and refresh tokens
can be found by index (the pruner, idp/storage/pruner.py)

Revision ID: 0008
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_authorization_codes_client_nonce", "authorization_codes", ["client_id", "nonce"])
    op.create_index("ix_grants_expires_at", "grants", ["expires_at"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_expires_at", table_name="refresh_tokens")
    op.drop_index("ix_grants_expires_at", table_name="grants")
    op.drop_index("ix_authorization_codes_client_nonce", table_name="authorization_codes")
