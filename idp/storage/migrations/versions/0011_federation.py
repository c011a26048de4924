"""federation and provisioning: upstream identity providers, linked identities, brokered sign-ins and sessions;
users.nip; SCIM-provisioned accounts

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-07 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nip', sa.String(length=18), nullable=True))
        batch_op.create_index('ix_users_nip', ['nip'], unique=True)
    op.create_table('upstream_idps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('client_secret', sa.Text(), nullable=True),
    sa.Column('private_key', sa.Text(), nullable=True),
    sa.Column('key_id', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('link_by', sa.String(length=8), nullable=False),
    sa.Column('authoritative', sa.Boolean(), nullable=False),
    sa.Column('acr_map', sa.JSON(), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('federated_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idp_slug', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('last_login_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['idp_slug'], ['upstream_idps.slug'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idp_slug', 'subject')
    )
    with op.batch_alter_table('federated_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federated_identities_user_id'), ['user_id'], unique=False)
    op.create_table('federation_logins',
    sa.Column('state_digest', sa.String(length=64), nullable=False),
    sa.Column('idp_slug', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('interaction', sa.String(length=64), nullable=True),
    sa.Column('claims', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('state_digest')
    )
    with op.batch_alter_table('federation_logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_logins_expires_at'), ['expires_at'], unique=False)
    op.create_table('federated_sessions',
    sa.Column('sid', sa.String(length=36), nullable=False),
    sa.Column('idp_slug', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('upstream_sid', sa.String(length=255), nullable=True),
    sa.Column('id_token', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('sid')
    )
    with op.batch_alter_table('federated_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federated_sessions_idp_slug'), ['idp_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_federated_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_federated_sessions_upstream', ['idp_slug', 'upstream_sid'], unique=False)
        batch_op.create_index('ix_federated_sessions_subject', ['idp_slug', 'subject'], unique=False)
    op.create_table('scim_accounts',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('user_name', sa.String(length=255), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id'),
    sa.UniqueConstraint('user_name')
    )


def downgrade() -> None:
    op.drop_table('scim_accounts')
    op.drop_table('federated_sessions')
    op.drop_table('federation_logins')
    op.drop_table('federated_identities')
    op.drop_table('upstream_idps')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_nip')
        batch_op.drop_column('nip')
