"""traffic per app and minute for the console (gateway.traffic_store)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('traffic_minutes',
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('client_errors', sa.BigInteger(), nullable=False),
    sa.Column('server_errors', sa.BigInteger(), nullable=False),
    sa.Column('throttled', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'app')
    )
    op.create_table('traffic_latency',
    sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('bucket', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'app', 'bucket')
    )
    op.create_index('ix_traffic_minutes_app_minute', 'traffic_minutes', ['app', 'minute'], unique=False)
    op.create_index('ix_traffic_latency_app_minute', 'traffic_latency', ['app', 'minute'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_traffic_latency_app_minute', table_name='traffic_latency')
    op.drop_index('ix_traffic_minutes_app_minute', table_name='traffic_minutes')
    op.drop_table('traffic_latency')
    op.drop_table('traffic_minutes')
