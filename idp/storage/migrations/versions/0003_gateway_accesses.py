"""gateway accesses: the access history's record of identity assertions sent by the gateway

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_accesses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('opd', sa.String(length=64), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gateway_accesses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_accesses_at'), ['at'], unique=False)
        batch_op.create_index('ix_gateway_accesses_user_at', ['user_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gateway_accesses', schema=None) as batch_op:
        batch_op.drop_index('ix_gateway_accesses_user_at')
        batch_op.drop_index(batch_op.f('ix_gateway_accesses_at'))

    op.drop_table('gateway_accesses')
