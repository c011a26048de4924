"""client jwks_uri: a client's public keys by reference (RFC 7591 §2), for private_key_jwt and request objects;
an app submission may ask for a FAPI 2.0 client with its keys at a jwks_uri (apps.client_profile, client_jwks_uri)

Revision ID: 0016
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("jwks_uri", sa.String(length=500), nullable=True))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("client_profile", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("client_jwks_uri", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("client_jwks_uri")
        batch.drop_column("client_profile")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("jwks_uri")
